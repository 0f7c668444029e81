"""The tasks of the graph: thin wrappers that fetch the source, call `pipelines.media` and
store what it wrote. `@ray.remote` is applied here, at the bottom, and nowhere else.

Arguments and results cross Ray as plain dicts (`to_dict`/`from_dict`), so a worker never
needs the driver's copy of a class. The probe travels the same way: it is made once, by
`_probe` or by the caller, and every later step reads the source with what it says.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import psutil
import ray

from cluster import metrics
from cluster.storage import ObjectStore
from pipelines.media import (
    MediaInfo,
    StillTimes,
    TranscodePlan,
    audio_segments,
    available_encoders,
    encode_chunk,
    poster,
    probe,
    storyboard,
    waveform,
)
from pipelines.media.complexity import probe_complexity
from pipelines.media.cputime import process_cpu

StoreFactory = Callable[[], ObjectStore]
# Work folders carry their process id: a folder whose process is gone was left by a
# worker killed with its node (no `finally` ran), and the next task on the machine
# removes it (`reap_orphans`).
_WORKDIR = re.compile(r"^vidray-[a-z]+-(\d+)-")


def workdir(kind: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"vidray-{kind}-{os.getpid()}-"))


def _alive(pid: int) -> bool:
    # A zombie counts as dead: a worker killed with its node may wait to be reaped by a
    # parent that is busy elsewhere, its folder abandoned all the same.
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # someone else's process: alive
        return True


def reap_orphans(root: Path | None = None) -> list[Path]:
    """Remove the work folders of dead task processes under `root` (the temp folder);
    returns what it removed."""
    root = root or Path(tempfile.gettempdir())
    removed = []
    for path in root.glob("vidray-*-*-*"):
        match = _WORKDIR.match(path.name)
        if match and path.is_dir() and not _alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@dataclass(frozen=True)
class Source:
    """Where the input is: an object key in the store, or a file every worker can read."""

    key: str | None = None
    path: str | None = None


@contextmanager
def local_source(store: ObjectStore, source: Source) -> Iterator[Path]:
    """A local path to the input: no copy for local files, a download from S3."""
    if source.path is not None:
        yield Path(source.path)
        return
    assert source.key is not None
    local = store.local_path(source.key)
    if local is not None:
        yield local
        return
    tmp = workdir("src")
    try:
        yield store.download(source.key, tmp / "source")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _upload_dir(store: ObjectStore, local: Path, prefix: str) -> list[str]:
    keys = []
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        key = prefix + path.relative_to(local).as_posix()
        store.put_file(key, path)
        keys.append(key)
    return keys


def _probe(open_store: StoreFactory, source: Source) -> tuple[dict[str, Any], float]:
    """The one probe of a transcode: hardened, and in a worker, so a file that crashes
    FFmpeg takes down that worker rather than the job actor. Returns it and its CPU."""
    start = process_cpu()
    with local_source(open_store(), source) as path:
        return probe(path).to_dict(), process_cpu() - start


def _with_other(stages: dict[str, float], *, since: float) -> dict[str, float]:
    """`stages` plus "other": the task's process CPU its stages do not account for
    (store uploads, Ray's own threads, Python between stages)."""
    other = process_cpu() - since - sum(stages.values())
    return {**stages, "other": stages.get("other", 0.0) + max(0.0, other)}


def _encode_chunk(
    open_store: StoreFactory,
    source: Source,
    plan_data: dict[str, Any],
    *,
    chunk_index: int,
    rungs: tuple[str, ...],
    staging: str,
    preset: str,
    want_gpu: bool,
    stills: dict[str, Any] | None = None,
    threads: int = 1,
) -> tuple[dict[str, Any], list[str], dict[str, Any]]:
    """One chunk, every rung in `rungs`; with `stills`, also its poster candidate and
    storyboard tiles. Returns its output (whose `cpu` adds up to the task's whole process
    CPU), notes for the job, and where it ran (node and worker ids, for the job's ledger).
    `threads` is one (parallelism comes from the chunks) except for the task a viewer
    waits on.
    """
    started = process_cpu()
    wall_started = time.time()
    reap_orphans()
    context = ray.get_runtime_context()
    ran_on: dict[str, Any] = {
        "node_id": context.get_node_id(),
        "worker_id": context.get_worker_id(),
    }
    plan = TranscodePlan.from_dict(plan_data)
    notes: list[str] = []
    encoder: Literal["libx264", "h264_nvenc"] = "libx264"
    if want_gpu:
        nvenc = available_encoders()["h264_nvenc"]
        if nvenc.available:
            encoder = "h264_nvenc"
        else:
            notes.append(f"chunk {chunk_index}: no usable NVENC ({nvenc.reason}); used libx264")
    device = "gpu" if encoder == "h264_nvenc" else "cpu"
    metrics.chunk_started(device=device)
    began = time.monotonic()
    store = open_store()
    work = workdir("chunk")
    try:
        with local_source(store, source) as path:
            output = encode_chunk(
                source=path,
                plan=plan,
                chunk=plan.chunks[chunk_index],
                out_dir=work,
                rungs=rungs,
                encoder=encoder,
                preset=preset,
                threads=threads,
                stills=StillTimes.from_dict(stills) if stills is not None else None,
            )
        _upload_dir(store, work, staging)
        chunk = plan.chunks[chunk_index]
        metrics.chunk_encoded(
            rung=rungs[0],
            device=device,
            seconds=time.monotonic() - began,
            media_seconds=chunk.end - chunk.start,
        )
        data = output.to_dict()
        data["cpu"] = _with_other(output.cpu, since=started)
        # Wall clock, not monotonic: the driver compares it with its own, on another node.
        ran_on["timing"] = {"started": wall_started, "task_s": time.time() - wall_started}
        return data, notes, ran_on
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _encode_audio(
    open_store: StoreFactory, source: Source, plan_data: dict[str, Any], *, staging: str
) -> Iterator[dict[str, Any]]:
    """A generator task: yields each audio segment once it is in the store.

    The track is encoded once, front to back, but a long file's first segments are
    published long before its last: the video is playable without waiting for it.
    The last item is `{"cpu": {"audio": seconds, "other": seconds}}`.
    """
    started = process_cpu()
    plan = TranscodePlan.from_dict(plan_data)
    store = open_store()
    work = workdir("audio")
    encoding = 0.0
    try:
        with local_source(store, source) as path:
            segments = audio_segments(source=path, plan=plan, out_dir=work)
            while True:
                clock = time.thread_time()
                segment = next(segments, None)
                encoding += time.thread_time() - clock
                if segment is None:
                    break
                local = work / segment.path
                store.put_file(staging + segment.path, local)
                local.unlink()
                yield asdict(segment)
        yield {"cpu": _with_other({"audio": encoding}, since=started)}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _images(
    open_store: StoreFactory, source: Source, info_data: dict[str, Any], *, image_prefix: str
) -> tuple[str, str | None, float]:
    """The poster (and a video's storyboard) from a pass of their own over the source:
    sound alone gets its waveform; a video needs this only when a resumed job adopted
    chunks encoded before the restart, whose frames are gone (otherwise its images come
    out of its chunk tasks). Returns the poster's key, the storyboard's, and the CPU."""
    started = process_cpu()
    info = MediaInfo.from_dict(info_data)
    store = open_store()
    work = workdir("thumbs")
    try:
        with local_source(store, source) as path:
            if info.video is None:
                waveform(path, info, work / "poster.jpg")
            else:
                poster(path, info, work / "poster.jpg")
                storyboard(path, info, work)
        _upload_dir(store, work, image_prefix)
        board = f"{image_prefix}storyboard.vtt" if info.video is not None else None
        return f"{image_prefix}poster.jpg", board, process_cpu() - started
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _complexity(
    open_store: StoreFactory, source: Source, plan_data: dict[str, Any], *, preset: str
) -> tuple[list[dict[str, Any]], float]:
    """The per-title probe: each rung's quality curve from a few short samples."""
    started = process_cpu()
    plan = TranscodePlan.from_dict(plan_data)
    with local_source(open_store(), source) as path:
        curves = probe_complexity(source=path, plan=plan, preset=preset)
    return [c.to_dict() for c in curves], process_cpu() - started


# Media errors are the file's fault: never retried. A dead worker or node is retried: by
# Ray, except chunks, which the driver retries itself so that the job's ledger sees every
# try (`attempts.py`).
_remote = functools.partial(ray.remote, max_retries=3, retry_exceptions=False)
probe_task = _remote(num_cpus=1)(_probe)
chunk_task = _remote(num_cpus=1, max_retries=0)(_encode_chunk)
audio_task = _remote(num_cpus=1, num_returns="streaming")(_encode_audio)
images_task = _remote(num_cpus=1)(_images)
complexity_task = _remote(num_cpus=1)(_complexity)
