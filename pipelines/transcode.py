"""The transcode task graph: probe, plan, then chunks in parallel on every worker.

    probe+plan ─┬─ chunk 0, lowest rung   (scheduled first: playable in seconds)
                ├─ audio, once, streamed  (a generator task: one segment at a time)
                ├─ chunk 0, other rungs ─┐
                ├─ chunk 1..n, all rungs ├─ publish segments, rewrite playlists
                └─ poster + storyboard  ─┘

The driver (`transcode`) runs wherever the caller is: the `vidray transcode` command or
the job actor. Each task writes its segments under a staging prefix; the driver moves
them to their final keys and then rewrites the playlists, so a player never sees a
playlist naming a segment that is not there. The audio task yields each segment as soon
as it is stored, so the video plays once the lowest rung's first chunk and the first
audio segment exist, however long the source. Ray retries a task only when its worker or
node dies (a retried audio stream goes on from the first segment the driver has not
seen); a media error fails the job once, with its reason.
"""

from __future__ import annotations

import functools
import math
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeAlias

import ray

from cluster.storage import ObjectStore, staging_prefix
from pipelines.errors import TranscodeCancelled, TranscodeFailed
from pipelines.media import (
    AAC_CODECS,
    AudioOutput,
    ChunkOutput,
    MediaError,
    Segment,
    TranscodePlan,
    audio_segments,
    available_encoders,
    encode_chunk,
    package,
    plan_transcode,
    poster,
    probe,
    storyboard,
)

StoreFactory = Callable[[], ObjectStore]
# What the driver waits on: a task's result, or the audio task's stream of segments.
Waitable: TypeAlias = ray.ObjectRef | ray.ObjectRefGenerator
Accelerator = Literal["auto", "cpu", "gpu"]
GPU_RESOURCE = "GPU"
# Wall-clock limit of one task: a fixed allowance plus a multiple of the media it encodes.
TASK_BASE_LIMIT_S = 120.0
TASK_REALTIME_FACTOR = 20.0


@dataclass(frozen=True)
class Source:
    """Where the input is: an object key in the store, or a file every worker can read."""

    key: str | None = None
    path: str | None = None


@dataclass(frozen=True)
class Options:
    ladder: tuple[int, ...] | None = None
    max_height: int | None = None
    segment_seconds: float = 6.0
    # Fast start: a one-GOP first segment, so the first chunk decodes 2 s, not 6 s, of the
    # source before the lowest rung is published (and a player's first download is small).
    first_segment_seconds: float | None = 2.0
    segments_per_chunk: int | None = None  # None: enough chunks to keep every core busy
    preset: str = "veryfast"
    accelerator: Accelerator = "auto"
    thumbnails: bool = True


@dataclass
class Progress:
    stage: str
    percent: float
    playable: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Result:
    plan: TranscodePlan
    width: int | None  # the source's display size, after rotation
    height: int | None
    master_key: str
    renditions: tuple[dict[str, Any], ...]
    poster_key: str | None
    storyboard_key: str | None
    first_playable_s: float
    total_s: float
    notes: tuple[str, ...]


@contextmanager
def _local_source(store: ObjectStore, source: Source) -> Iterator[Path]:
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


def chunk_size(*, duration: float, segment_seconds: float, workers: int) -> int:
    """Segments per chunk: about three chunks per worker, so the last ones finish together.

    Fewer, longer chunks waste less on seeking; more, shorter ones leave fewer cores idle
    at the end of a job. Three per worker balances the two; never more than 5 segments.
    The plan then ends on two single-segment chunks per worker (`tail_chunks`): the last
    rounds are short, so the workers run dry together.

    >>> chunk_size(duration=60, segment_seconds=6, workers=2)
    2
    """
    segments = max(1, math.ceil(duration / segment_seconds))
    return max(1, min(5, math.ceil(segments / (3 * max(1, workers)))))


def _probe_and_plan(
    open_store: StoreFactory, source: Source, options: Options, workers: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    store = open_store()
    with _local_source(store, source) as path:
        info = probe(path)
    per_chunk = options.segments_per_chunk or chunk_size(
        duration=info.duration, segment_seconds=options.segment_seconds, workers=workers
    )
    plan = plan_transcode(
        info,
        ladder=options.ladder,
        max_height=options.max_height,
        segment_seconds=options.segment_seconds,
        segments_per_chunk=per_chunk,
        first_segment_seconds=options.first_segment_seconds,
        tail_chunks=2 * workers,
    )
    summary = {"duration": info.duration, "has_video": info.video is not None}
    if info.video is not None:
        summary |= {"width": info.video.display_width, "height": info.video.display_height}
    return plan.to_dict(), summary


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
) -> tuple[dict[str, Any], list[str]]:
    plan = TranscodePlan.from_dict(plan_data)
    notes: list[str] = []
    encoder: Literal["libx264", "h264_nvenc"] = "libx264"
    if want_gpu:
        nvenc = available_encoders()["h264_nvenc"]
        if nvenc.available:
            encoder = "h264_nvenc"
        else:
            notes.append(f"chunk {chunk_index}: no usable NVENC ({nvenc.reason}); used libx264")
    store = open_store()
    work = Path(tempfile.mkdtemp(prefix="vidray-chunk-"))
    try:
        with _local_source(store, source) as path:
            output = encode_chunk(
                source=path,
                plan=plan,
                chunk=plan.chunks[chunk_index],
                out_dir=work,
                rungs=rungs,
                encoder=encoder,
                preset=preset,
                threads=1,  # one core per task: parallelism comes from the chunks
            )
        _upload_dir(store, work, staging)
        return output.to_dict(), notes
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _encode_audio(
    open_store: StoreFactory, source: Source, plan_data: dict[str, Any], *, staging: str
) -> Iterator[dict[str, Any]]:
    """A generator task: yields each audio segment once it is in the store.

    The track is encoded once, front to back, but a long file's first segments are
    published long before its last: the video is playable without waiting for it.
    """
    plan = TranscodePlan.from_dict(plan_data)
    store = open_store()
    work = Path(tempfile.mkdtemp(prefix="vidray-audio-"))
    try:
        with _local_source(store, source) as path:
            for segment in audio_segments(source=path, plan=plan, out_dir=work):
                local = work / segment.path
                store.put_file(staging + segment.path, local)
                local.unlink()
                yield asdict(segment)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _thumbnails(
    open_store: StoreFactory, source: Source, *, image_prefix: str
) -> tuple[str | None, str | None]:
    store = open_store()
    work = Path(tempfile.mkdtemp(prefix="vidray-thumbs-"))
    try:
        with _local_source(store, source) as path:
            info = probe(path)
            poster(path, info, work / "poster.jpg")
            storyboard(path, info, work)
        _upload_dir(store, work, image_prefix)
        return f"{image_prefix}poster.jpg", f"{image_prefix}storyboard.vtt"
    finally:
        shutil.rmtree(work, ignore_errors=True)


# Media errors are the file's fault: never retried. A dead worker or node is retried.
_remote = functools.partial(ray.remote, max_retries=3, retry_exceptions=False)
probe_task = _remote(num_cpus=1)(_probe_and_plan)
chunk_task = _remote(num_cpus=1)(_encode_chunk)
audio_task = _remote(num_cpus=1, num_returns="streaming")(_encode_audio)
thumbs_task = _remote(num_cpus=1)(_thumbnails)


def _limit(seconds: float) -> float:
    return TASK_BASE_LIMIT_S + TASK_REALTIME_FACTOR * seconds


class _Driver:
    """Collects task results, publishes segments in order and rewrites the playlists."""

    def __init__(
        self,
        *,
        store: ObjectStore,
        plan: TranscodePlan,
        prefix: str,
        staging: str,
        progress: Callable[[Progress], None],
    ) -> None:
        self.store, self.plan, self.prefix, self.staging = store, plan, prefix, staging
        self.progress = progress
        self.chunks: list[ChunkOutput] = []
        self.audio_segments: list[Segment] = []
        self.audio_complete = False
        self.published: set[str] = set()
        self.playlists: dict[str, bytes] = {}  # what each published playlist says now

    def publish_segments(self, paths: list[str]) -> None:
        for rel in paths:
            self.store.move(self.staging + rel, self.prefix + rel)
            self.published.add(self.prefix + rel)

    def remove_published(self) -> None:
        """Delete exactly what this run published (the prefix may hold other files)."""
        for key in self.published:
            self.store.delete(key)

    def add_chunk(self, output: ChunkOutput) -> None:
        self.publish_segments([s.path for r in output.rungs for s in r.segments])
        self.chunks.append(output)

    def add_audio_segment(self, segment: Segment) -> None:
        """Publish the next segment of the audio task's stream."""
        self.publish_segments([segment.path])
        self.audio_segments.append(segment)

    def finish_audio(self) -> None:
        """The audio stream has ended: the playlists may end (VOD) once the video has."""
        self.audio_complete = True

    @property
    def audio(self) -> AudioOutput | None:
        """The audio published so far; None for a source without sound."""
        if self.plan.audio is None:
            return None
        return AudioOutput(
            codecs=AAC_CODECS,
            channels=self.plan.audio.channels,
            bitrate=self.plan.audio.bitrate,
            segments=tuple(self.audio_segments),
            complete=self.audio_complete,
        )

    def write_playlists(self) -> bool:
        """Rewrite the playlists that changed since the last call; True once they play.

        Unchanged ones are skipped: while the audio runs ahead of the video, each of its
        segments changes nothing a player can see, and a long source has hundreds.
        """
        with tempfile.TemporaryDirectory(prefix="vidray-pkg-") as tmp:
            result = package(plan=self.plan, chunks=self.chunks, audio=self.audio, out_dir=tmp)
            local = Path(tmp)
            # Media playlists first, master last: the master only names what exists.
            for path in sorted(local.rglob("*.m3u8"), key=lambda p: p.name == "master.m3u8"):
                key = self.prefix + path.relative_to(local).as_posix()
                text = path.read_bytes()
                if self.playlists.get(key) != text:
                    self.store.put_bytes(key, text)
                    self.playlists[key] = text
                    self.published.add(key)
        return result.playable


def transcode(
    *,
    open_store: StoreFactory,
    source: Source,
    prefix: str,
    image_prefix: str | None = None,
    options: Options | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Result:
    """Run the whole graph for one video; outputs land under `prefix` in the store.

    Raises `TranscodeFailed` (with the media error's reason) or `TranscodeCancelled`, in
    which case everything written under `prefix` and the staging prefix is removed.
    """
    options = options or Options()
    report = progress or (lambda _: None)
    store = open_store()
    started = time.monotonic()
    staging = staging_prefix(prefix or "out")
    notes: list[str] = []
    pending: dict[Waitable, tuple[str, float, float]] = {}  # (kind, deadline, weight)
    driver: _Driver | None = None
    try:
        report(Progress("probing", 0.0))
        workers = int(ray.cluster_resources().get("CPU", 1))
        plan_ref = probe_task.remote(open_store, source, options, workers)
        plan_data, summary = _get(plan_ref, limit=_limit(0), what="probe")
        plan = TranscodePlan.from_dict(plan_data)
        want_gpu = _use_gpu(options.accelerator)
        if want_gpu:
            notes.append("GPU tasks requested: NVENC used where the card has it")
        driver = _Driver(store=store, plan=plan, prefix=prefix, staging=staging, progress=report)

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

        def encode(index: int, rungs: tuple[str, ...]) -> None:
            nonlocal total_work
            chunk = plan.chunks[index]
            weight = rung_weight(rungs) * (chunk.end - chunk.start)
            total_work += weight
            ref = chunk_task.options(**chunk_opts).remote(
                open_store,
                source,
                plan_data,
                chunk_index=index,
                rungs=rungs,
                staging=staging,
                preset=options.preset,
                want_gpu=want_gpu,
            )
            submit(f"chunk {index}", ref, chunk.end - chunk.start, weight)

        # Order matters: Ray starts tasks in submission order when cores are scarce.
        if names:
            lowest = min(plan.rungs, key=lambda r: r.height).name
            encode(0, (lowest,))
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
            rest = tuple(n for n in names if n != lowest)
            if rest:
                encode(0, rest)
            for index in range(1, len(plan.chunks)):
                encode(index, names)
        poster_key = storyboard_key = None
        thumbs_ref = None
        if options.thumbnails and image_prefix is not None and summary["has_video"]:
            thumbs_ref = thumbs_task.remote(open_store, source, image_prefix=image_prefix)
            submit("thumbnails", thumbs_ref, plan.duration / 10, 0.0)

        done_work = 0.0
        first_playable: float | None = None
        report(Progress("encoding", 1.0))
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
                    driver.finish_audio()
                else:
                    segment = Segment(**item)
                    driver.add_audio_segment(segment)
                    done_work += weight * segment.duration / max(plan.duration, 1e-9)
            else:
                del pending[waitable]
                value = _get(waitable, limit=1, what=kind)
                if kind == "thumbnails":
                    poster_key, storyboard_key = value
                    continue
                output, chunk_notes = value
                notes.extend(chunk_notes)
                driver.add_chunk(ChunkOutput.from_dict(output))
                done_work += weight
            playable = driver.write_playlists()
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
        store.delete_prefix(staging)
        report(Progress("done", 100.0, playable=True, notes=list(notes)))
        renditions = _renditions(driver, prefix)
        total = time.monotonic() - started
        return Result(
            plan=plan,
            width=summary.get("width"),
            height=summary.get("height"),
            master_key=f"{prefix}master.m3u8",
            renditions=renditions,
            poster_key=poster_key,
            storyboard_key=storyboard_key,
            first_playable_s=first_playable if first_playable is not None else total,
            total_s=total,
            notes=tuple(notes),
        )
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        store.delete_prefix(staging)
        if driver is not None:
            driver.remove_published()
        if image_prefix:
            store.delete_prefix(image_prefix)
        raise


def _renditions(driver: _Driver, prefix: str) -> tuple[dict[str, Any], ...]:
    with tempfile.TemporaryDirectory() as tmp:
        result = package(plan=driver.plan, chunks=driver.chunks, audio=driver.audio, out_dir=tmp)
    return tuple(
        {
            "name": v.rung.name,
            "width": v.rung.width,
            "height": v.rung.height,
            "codecs": v.codecs,
            "playlist_key": f"{prefix}{v.rung.name}/index.m3u8",
        }
        for v in result.variants
    )


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
            raise TranscodeFailed(str(cause), reason=cause.reason) from None
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
