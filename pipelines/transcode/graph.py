"""The driver: probe (once), plan, submit the tasks in the order that plays soonest, and
hand each result to the `Publisher` as it arrives, within every task's time limit."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

import ray

from cluster.storage import staging_prefix
from pipelines.errors import SourceRejected, TranscodeCancelled, TranscodeFailed
from pipelines.media import (
    ChunkOutput,
    MediaError,
    MediaInfo,
    Segment,
    StillTimes,
    TranscodePlan,
)
from pipelines.media.complexity import RungCurve, per_title_rungs

from .attempts import Attempt, ChunkKey, cause, lost, where
from .options import Accelerator, Options, per_title_for, plan_for, shape_for
from .publish import Publisher
from .stills import StillsGatherer
from .tasks import (
    Source,
    StoreFactory,
    audio_task,
    chunk_task,
    complexity_task,
    images_task,
    probe_task,
    reap_orphans,
)

# What the driver waits on: a task's result, or the audio task's stream of segments.
Waitable: TypeAlias = ray.ObjectRef | ray.ObjectRefGenerator
GPU_RESOURCE = "GPU"
# Wall-clock limit of one task: a fixed allowance plus a multiple of the media it encodes.
TASK_BASE_LIMIT_S = 120.0
TASK_REALTIME_FACTOR = 20.0
# The first task (the lowest rung of the first segment) decodes with two frame threads:
# on a grainy 1080p source its 16 pictures take 0.7 s instead of 1.1 s (for 0.15 CPU-s
# more), which is most of the wait before a video can play.
FIRST_TASK_THREADS = 2


@dataclass
class Progress:
    stage: str
    percent: float
    playable: bool = False
    notes: list[str] = field(default_factory=list)
    # How the source was cut into chunks ({"segments_per_chunk", "tail_chunks"}): a
    # resumed job passes it back in `Options`, so its chunks are the same ones.
    shape: dict[str, int] | None = None


@dataclass(frozen=True)
class Result:
    plan: TranscodePlan
    probe: MediaInfo  # the one probe of the source: duration, display size, codecs
    master_key: str
    renditions: tuple[dict[str, Any], ...]
    poster_key: str | None
    storyboard_key: str | None
    first_playable_s: float
    total_s: float
    notes: tuple[str, ...]
    # CPU seconds of every task, by stage ("probe", "decode", "scale", "x264 720p",
    # "audio", "stills", "other", ...): they add up to the tasks' whole process CPU.
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def width(self) -> int | None:
        """The source's display width, after rotation; None without a picture."""
        return self.probe.video.display_width if self.probe.video is not None else None

    @property
    def height(self) -> int | None:
        return self.probe.video.display_height if self.probe.video is not None else None


def probe_source(
    *, open_store: StoreFactory, source: Source, cancelled: Callable[[], bool] = lambda: False
) -> MediaInfo:
    """Probe an upload in a worker, hardened, within the probe's time limit.

    Raises `SourceRejected` (a `TranscodeFailed`) with the media error's `reason` and its
    message for the uploader when the file is unacceptable, or `TranscodeFailed` with
    reason "timeout", "lost" or "internal" when the probe could not finish. Hand the
    result to `transcode(probe=...)` and the pipeline does not probe again.
    """
    return _probe_timed(open_store=open_store, source=source, cancelled=cancelled)[0]


def _probe_timed(
    *, open_store: StoreFactory, source: Source, cancelled: Callable[[], bool]
) -> tuple[MediaInfo, float]:
    ref = probe_task.remote(open_store, source)
    deadline = time.monotonic() + _limit(0)
    # Waited on in short turns: a probe stuck behind a full cluster can still be cancelled.
    while not ray.wait([ref], timeout=0.5)[0]:
        if cancelled():
            ray.cancel(ref, force=True)
            raise TranscodeCancelled("the transcode was cancelled")
        if time.monotonic() > deadline:
            ray.cancel(ref, force=True)
            raise TranscodeFailed("probe ran past its time limit", reason="timeout")
    data, cpu = _get(ref, limit=1, what="probe")
    return MediaInfo.from_dict(data), cpu


def transcode(
    *,
    open_store: StoreFactory,
    source: Source,
    prefix: str,
    image_prefix: str | None = None,
    options: Options | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    probe: MediaInfo | None = None,
    on_attempt: Callable[[Attempt], None] = lambda _: None,
    done_chunks: Mapping[ChunkKey, dict[str, Any]] | None = None,
    chunk_retries: int = 3,
) -> Result:
    """Run the whole graph for one video; outputs land under `prefix` in the store.

    `probe` is the caller's probe of this very source (from `probe_source`); without
    one the graph probes it first. Either way that probe is the only one: planning, the
    poster and the storyboard all read it, and it comes back as `Result.probe`.

    Every try at a chunk goes to `on_attempt` as it starts and as it ends; a chunk whose
    worker or node died is tried again, up to `chunk_retries` times. `done_chunks` are
    outputs a previous run of this job published (keyed by chunk index and rungs): they
    are published again as they are, not encoded again; `options` must then carry the
    previous run's `Progress.shape`, so that the chunks are the same.

    Raises `TranscodeFailed` (with the media error's reason) or `TranscodeCancelled`, in
    which case everything written under `prefix` and the staging prefix is removed.
    """
    done_chunks = done_chunks or {}
    options = options or Options()
    report = progress or (lambda _: None)
    store = open_store()
    started = time.monotonic()
    staging = staging_prefix(prefix or "out")
    notes: list[str] = []
    pending: dict[Waitable, tuple[str, float, float]] = {}  # (kind, deadline, weight)
    publisher: Publisher | None = None
    cpu: dict[str, float] = {}

    def charge(stages: dict[str, float]) -> None:
        for name, seconds in stages.items():
            cpu[name] = cpu.get(name, 0.0) + seconds

    try:
        report(Progress("probing", 0.0))
        workers = int(ray.cluster_resources().get("CPU", 1))
        if probe is None:
            info, probe_cpu = _probe_timed(
                open_store=open_store, source=source, cancelled=cancelled
            )
            charge({"probe": probe_cpu})
        else:
            info = probe
        shape = shape_for(info, options=options, workers=workers)
        plan = plan_for(info, options=options, shape=shape)
        if plan.rungs and per_title_for(options, info):
            report(Progress("probing", 0.5))
            curves, probe_cpu = _get(
                complexity_task.remote(open_store, source, plan.to_dict(), preset=options.preset),
                limit=_limit(10.0),
                what="complexity probe",
            )
            charge({"complexity probe": probe_cpu})
            fitted = per_title_rungs(plan.rungs, tuple(RungCurve.from_dict(c) for c in curves))
            plan = dataclasses.replace(plan, rungs=fitted)
        plan_data = plan.to_dict()
        want_gpu = _use_gpu(options.accelerator)
        if want_gpu:
            notes.append("GPU tasks requested: NVENC used where the card has it")
        publisher = Publisher(store=store, plan=plan, prefix=prefix, staging=staging)

        queued_s = 0.0  # media seconds of the tasks submitted so far

        def submit(kind: str, ref: Waitable, seconds: float, weight: float) -> None:
            # A task's clock starts when it runs, not when it is queued: on a busy or small
            # cluster the last chunks of a long video wait behind all the others, so each
            # deadline also allows for the media queued ahead of it on every worker.
            nonlocal queued_s
            wait = TASK_REALTIME_FACTOR * queued_s / max(1, workers)
            pending[ref] = (kind, time.monotonic() + wait + _limit(seconds), weight)
            queued_s += seconds

        chunk_opts: dict[str, Any] = {"num_gpus": 1} if want_gpu else {}
        names = tuple(r.name for r in plan.rungs)
        total_work = 0.0

        def rung_weight(rung_names: tuple[str, ...]) -> float:
            return sum(plan.rung(n).width * plan.rung(n).height for n in rung_names) / 1e6

        # The poster and storyboard come out of the chunk tasks' own decode.
        stills: StillsGatherer | None = None
        if options.thumbnails and image_prefix is not None and info.video is not None and names:
            stills = StillsGatherer(
                StillTimes.for_video(
                    duration=plan.duration,
                    width=info.video.display_width,
                    height=info.video.display_height,
                )
            )

        # (index, rungs, retry, images, threads) of each chunk task in flight
        chunks: dict[Waitable, tuple[int, tuple[str, ...], int, bool, int]] = {}
        resumed: list[tuple[dict[str, Any], float]] = []

        def encode(
            index: int,
            rungs: tuple[str, ...],
            retry: int = 0,
            *,
            images: bool = True,
            threads: int = 1,
        ) -> None:
            nonlocal total_work
            chunk = plan.chunks[index]
            weight = rung_weight(rungs) * (chunk.end - chunk.start)
            if retry == 0:
                total_work += weight
                if (index, rungs) in done_chunks:
                    resumed.append((done_chunks[index, rungs], weight))
                    return
            ref = chunk_task.options(**chunk_opts).remote(
                open_store,
                source,
                plan_data,
                chunk_index=index,
                rungs=rungs,
                staging=staging,
                preset=options.preset,
                want_gpu=want_gpu,
                stills=stills.times.to_dict() if stills is not None and images else None,
                threads=threads,
            )
            submit(f"chunk {index}", ref, chunk.end - chunk.start, weight)
            chunks[ref] = (index, rungs, retry, images, threads)
            on_attempt(Attempt(f"chunk {index}", index, rungs, retry, "running"))

        # Order matters: Ray starts tasks in submission order when cores are scarce.
        if names:
            lowest = min(plan.rungs, key=lambda r: r.height).name
            rest = tuple(n for n in names if n != lowest)
            # The first task is the one a viewer waits for: it takes no pictures when
            # another task decodes the same chunk for the other rungs.
            encode(0, (lowest,), images=not rest, threads=FIRST_TASK_THREADS)
        if plan.audio is not None:
            weight = 0.02 * plan.duration
            total_work += weight
            submit(
                "audio",
                audio_task.remote(open_store, source, plan_data, staging=staging),
                plan.duration,
                weight,
            )
        if names:
            if rest:
                encode(0, rest)
            for index in range(1, len(plan.chunks)):
                encode(index, names)
        poster_key = storyboard_key = None
        if resumed:  # the adopted chunks' frames are gone: the images take a pass of their own
            stills = None
        if options.thumbnails and image_prefix is not None and stills is None:
            images_ref = images_task.remote(
                open_store, source, info.to_dict(), image_prefix=image_prefix
            )
            submit("images", images_ref, plan.duration / 10, 0.0)

        done_work = 0.0
        first_playable: float | None = None
        for output, weight in resumed:
            publisher.adopt_chunk(ChunkOutput.from_dict(output))
            done_work += weight
        report(Progress("encoding", 1.0, shape=shape))
        while pending:
            if cancelled():
                raise TranscodeCancelled("the transcode was cancelled")
            # Every turn, not only when idle: a stream of audio segments keeps the wait
            # busy for as long as the track lasts, and a stuck chunk must not hide behind it.
            _enforce_limits(pending)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            if not ready:
                continue
            waitable = ready[0]
            kind, _, weight = pending[waitable]
            if isinstance(waitable, ray.ObjectRefGenerator):
                # Ready means its next item is stored, or it has ended: `next` never blocks.
                # A media error inside the task arrives as an item that `_get` raises.
                try:
                    item = _get(next(waitable), limit=1, what=kind)
                except StopIteration:
                    del pending[waitable]
                    publisher.finish_audio()
                else:
                    if "cpu" in item:  # the stream's last item: what the task cost
                        charge(item["cpu"])
                        continue
                    segment = Segment(**item)
                    publisher.add_audio_segment(segment)
                    done_work += weight * segment.duration / max(plan.duration, 1e-9)
            elif waitable in chunks:
                del pending[waitable]
                index, rungs, retry, images, threads = chunks.pop(waitable)
                base = Attempt(kind, index, rungs, retry, "running")
                try:
                    output, chunk_notes, ran_on = ray.get(waitable, timeout=1)
                except Exception as exc:
                    if not lost(exc) or retry >= chunk_retries:
                        node, worker = where(waitable)
                        on_attempt(
                            replace(
                                base,
                                outcome="failed",
                                node_id=node,
                                worker_id=worker,
                                error=cause(exc),
                            )
                        )
                        _get(waitable, limit=1, what=kind)  # raises the job's error
                        raise
                    node, worker = where(waitable)
                    on_attempt(
                        replace(
                            base, outcome="lost", node_id=node, worker_id=worker, error=cause(exc)
                        )
                    )
                    encode(index, rungs, retry + 1, images=images, threads=threads)
                    continue
                # Reported before publishing: a resumed job adopts a done chunk only if
                # all its segments are at their final keys.
                # The ledger keeps what publishing needs, not the frames (raw RGB bytes).
                kept = {key: value for key, value in output.items() if key != "stills"}
                on_attempt(replace(base, outcome="done", output=kept, **ran_on))
                notes.extend(chunk_notes)
                chunk_output = ChunkOutput.from_dict(output)
                charge(chunk_output.cpu)
                if stills is not None:
                    stills.add(chunk_output.stills)
                publisher.add_chunk(chunk_output)
                done_work += weight
            else:  # the images' own pass: the waveform of sound alone, or a resumed video's
                del pending[waitable]
                poster_key, storyboard_key, images_cpu = _get(waitable, limit=1, what=kind)
                charge({"stills" if storyboard_key else "waveform": images_cpu})
                continue
            playable = publisher.write_playlists()
            if playable and first_playable is None:
                first_playable = time.monotonic() - started
            report(
                Progress(
                    "encoding",
                    min(99.0, 1.0 + 98.0 * done_work / max(total_work, 1e-9)),
                    playable=playable,
                    notes=list(notes),
                )
            )
        if stills is not None and image_prefix is not None:
            poster_key, storyboard_key = stills.publish(store, image_prefix)
        store.delete_prefix(staging)
        # Lost tries leave work folders behind (their `finally` never ran): those on the
        # driver's machine go now, the others with the next task that runs on theirs.
        reap_orphans()
        report(Progress("done", 100.0, playable=True, notes=list(notes)))
        total = time.monotonic() - started
        return Result(
            plan=plan,
            probe=info,
            master_key=f"{prefix}master.m3u8",
            renditions=publisher.renditions(),
            poster_key=poster_key,
            storyboard_key=storyboard_key,
            first_playable_s=first_playable if first_playable is not None else total,
            total_s=total,
            notes=tuple(notes),
            cpu=cpu,
        )
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        store.delete_prefix(staging)
        if publisher is not None:
            publisher.remove_published()
        if image_prefix:
            store.delete_prefix(image_prefix)
        raise


def _limit(seconds: float) -> float:
    return TASK_BASE_LIMIT_S + TASK_REALTIME_FACTOR * seconds


def _use_gpu(accelerator: Accelerator) -> bool:
    if accelerator == "cpu":
        return False
    has_gpu = ray.cluster_resources().get(GPU_RESOURCE, 0) >= 1
    if accelerator == "gpu" and not has_gpu:
        return False
    return has_gpu


def _get(ref: ray.ObjectRef, *, limit: float, what: str) -> Any:
    try:
        return ray.get(ref, timeout=limit)
    except ray.exceptions.GetTimeoutError:
        ray.cancel(ref, force=True)
        raise TranscodeFailed(f"{what} ran past its time limit", reason="timeout") from None
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause
        if isinstance(cause, MediaError):
            raise SourceRejected(str(cause), reason=cause.reason) from None
        raise TranscodeFailed(f"{what} failed: {cause!r}", reason="internal") from None
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as exc:
        raise TranscodeFailed(
            f"{what} lost its worker after retries: {exc}", reason="lost"
        ) from None


def _enforce_limits(pending: dict[Waitable, tuple[str, float, float]]) -> None:
    now = time.monotonic()
    for ref, (kind, deadline, _) in pending.items():
        if now > deadline:
            ray.cancel(ref, force=True)
            raise TranscodeFailed(f"{kind} ran past its time limit", reason="timeout")
