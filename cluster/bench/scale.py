"""`vidray bench scale`: one source transcoded on clusters of 1, 2, 4 ... Ray nodes of
one core each, all on this machine (`ray.cluster_utils.Cluster`).

Per step: wall time, speedup and parallel efficiency against the one-node run (the
anchor), and what Ray costs per chunk beside what the chunk's encode costs. Ray's cost
is the round trip of an empty task on the same warm cluster (scheduling and dispatch)
plus the time from a chunk's return in its worker to its result at the driver (object
transfer and notification).
"""

from __future__ import annotations

import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cluster.bench.sources import make_source
from cluster.config import Settings
from cluster.storage import LocalStore
from pipelines import transcode as graph


@dataclass(frozen=True)
class Step:
    nodes: int
    wall_s: float
    chunks: int
    chunk_task_s: float  # median wall time of a chunk task in its worker
    schedule_s: float  # median round trip of an empty task
    deliver_s: float  # median time from a chunk's return to its result at the driver

    @property
    def overhead_s(self) -> float:
        return self.schedule_s + self.deliver_s

    @property
    def overhead_ratio(self) -> float:
        return self.overhead_s / self.chunk_task_s if self.chunk_task_s else float("nan")


def _empty_round_trip(rounds: int = 50) -> float:
    import ray

    @ray.remote(num_cpus=1)
    def empty() -> None:
        return None

    ray.get([empty.remote() for _ in range(rounds)])  # workers started and warm
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        ray.get(empty.remote())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _warm(nodes: int) -> None:
    """One worker per node with the media stack imported, as on a busy cluster."""
    import ray

    @ray.remote(num_cpus=1)
    def ready() -> int:
        import pipelines.media  # noqa: F401 - importing PyAV and the codecs is the warm-up

        time.sleep(0.5)  # hold the core, so each task lands on a node of its own
        return os.getpid()

    ray.get([ready.remote() for _ in range(nodes)])


def run_step(*, nodes: int, source: Path, options: graph.Options, out: Path) -> Step:
    """The transcode on a fresh cluster of `nodes` one-core nodes (head: no tasks)."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False}
    )
    try:
        for _ in range(nodes):
            cluster.add_node(num_cpus=1)
        cluster.connect(namespace="vidray-bench-scale")
        _warm(nodes)
        schedule = _empty_round_trip()
        tasks: list[float] = []
        delivered: list[float] = []

        def seen(attempt: graph.Attempt) -> None:
            if attempt.outcome == "done" and attempt.timing is not None:
                tasks.append(attempt.timing["task_s"])
                ended = attempt.timing["started"] + attempt.timing["task_s"]
                delivered.append(max(0.0, time.time() - ended))

        start = time.monotonic()
        graph.transcode(
            open_store=functools.partial(LocalStore, out),
            source=graph.Source(path=str(source)),
            prefix="",
            options=options,
            on_attempt=seen,
        )
        wall = time.monotonic() - start
    finally:
        ray.shutdown()
        cluster.shutdown()
    return Step(
        nodes=nodes,
        wall_s=wall,
        chunks=len(tasks),
        chunk_task_s=statistics.median(tasks) if tasks else float("nan"),
        schedule_s=schedule,
        deliver_s=statistics.median(delivered) if delivered else float("nan"),
    )


def bench(
    *,
    settings: Settings,
    nodes: tuple[int, ...],
    seconds: float,
    height: int,
    ladder: tuple[int, ...] | None,
    preset: str,
    say: Callable[[str], None],
) -> list[Step]:
    """Each step on its own cluster, the same source and options for all."""
    import ray

    if ray.is_initialized():
        raise RuntimeError("vidray bench scale builds its own clusters: run it without Ray up")
    width = round(height * 16 / 9 / 2) * 2
    source = settings.data_dir / "bench" / f"source-{height}p30-{seconds:g}s-silent.mp4"
    if not source.exists():
        say(f"generating a {seconds:g} s {height}p30 source at {source}")
        source.parent.mkdir(parents=True, exist_ok=True)
        partial = source.with_suffix(".partial.mp4")
        make_source(partial, width=width, height=height, seconds=seconds, audio=False)
        partial.replace(source)
    # The same chunks on every step: as many as the largest step plans for, so that only
    # the number of nodes changes between steps.
    options = graph.Options(
        ladder=ladder,
        preset=preset,
        accelerator="cpu",
        thumbnails=False,
        segments_per_chunk=graph.chunk_size(
            duration=seconds, segment_seconds=6.0, workers=max(nodes)
        ),
        tail_chunks=2 * max(nodes),
    )
    steps = []
    for count in nodes:
        say(f"{count} node(s) of one core: starting a cluster and transcoding")
        with tempfile.TemporaryDirectory(prefix="vidray-bench-scale-") as out:
            steps.append(run_step(nodes=count, source=source, options=options, out=Path(out)))
    return steps
