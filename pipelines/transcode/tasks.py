"""The tasks of the graph: thin wrappers that fetch the source, call `pipelines.media` and
store what it wrote. `@ray.remote` is applied here, at the bottom, and nowhere else.

Arguments and results cross Ray as plain dicts (`to_dict`/`from_dict`), so a worker never
needs the driver's copy of a class. The probe travels the same way: it is made once, by
`_probe` or by the caller, and every later step reads the source with what it says.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

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
    probe,
    waveform,
)
from pipelines.media.complexity import probe_complexity
from pipelines.media.cputime import process_cpu

StoreFactory = Callable[[], ObjectStore]


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
    tmp = Path(tempfile.mkdtemp(prefix="vidray-src-"))
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
) -> tuple[dict[str, Any], list[str]]:
    """One chunk, every rung in `rungs`; with `stills`, also its poster candidate and
    storyboard tiles. The output's `cpu` adds up to the task's whole process CPU."""
    started = process_cpu()
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
    work = Path(tempfile.mkdtemp(prefix="vidray-chunk-"))
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
                threads=1,  # one core per task: parallelism comes from the chunks
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
        return data, notes
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
    work = Path(tempfile.mkdtemp(prefix="vidray-audio-"))
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


def _waveform(
    open_store: StoreFactory, source: Source, info_data: dict[str, Any], *, image_prefix: str
) -> tuple[str, float]:
    """Sound alone: its waveform is the poster (a video's poster and storyboard come out
    of its chunk tasks). Returns the poster's key and the task's CPU."""
    started = process_cpu()
    info = MediaInfo.from_dict(info_data)
    store = open_store()
    work = Path(tempfile.mkdtemp(prefix="vidray-thumbs-"))
    try:
        with local_source(store, source) as path:
            waveform(path, info, work / "poster.jpg")
        _upload_dir(store, work, image_prefix)
        return f"{image_prefix}poster.jpg", process_cpu() - started
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


# Media errors are the file's fault: never retried. A dead worker or node is retried.
_remote = functools.partial(ray.remote, max_retries=3, retry_exceptions=False)
probe_task = _remote(num_cpus=1)(_probe)
chunk_task = _remote(num_cpus=1)(_encode_chunk)
audio_task = _remote(num_cpus=1, num_returns="streaming")(_encode_audio)
waveform_task = _remote(num_cpus=1)(_waveform)
complexity_task = _remote(num_cpus=1)(_complexity)
