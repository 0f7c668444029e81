"""Real media for the media-library tests, generated with PyAV (no fixtures on disk).

Pictures are testsrc-like (moving gradient, a moving box, fine noise so sharpness is
measurable); sound is a sine tone. Everything is small and short so the suite stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.media import Spec, make_media, require_tool


@pytest.fixture(scope="session")
def ffprobe() -> str:
    return require_tool("ffprobe")


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    return require_tool("ffmpeg")


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`media(name, **spec)` generates (once per session) and returns a source file."""
    root = tmp_path_factory.mktemp("media-src")
    made: dict[str, Path] = {}

    def build(name: str, **kwargs: object) -> Path:
        if name not in made:
            spec = Spec(**kwargs)  # type: ignore[arg-type]
            made[name] = make_media(root / f"{name}{spec.suffix}", spec)
        return made[name]

    return build


# --- running the library end to end and reading the result back with ffprobe ----------


@dataclass(frozen=True)
class Ladder:
    source: Path
    out: Path
    plan: object
    chunks: list
    audio: object
    package: object


@pytest.fixture(scope="session")
def ladder(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Ladder]:
    """`ladder(source, **plan_kwargs)`: probe -> plan -> every chunk -> audio -> package."""
    from pipelines.media import encode_audio, encode_chunk, package, plan_transcode, probe

    def run(source: Path, **plan_kwargs: object) -> Ladder:
        out = tmp_path_factory.mktemp(f"hls-{source.stem}")
        info = probe(source)
        kwargs = {"segment_seconds": 2.0, "gop_seconds": 1.0, "segments_per_chunk": 1}
        kwargs.update(plan_kwargs)
        plan = plan_transcode(info, **kwargs)  # type: ignore[arg-type]
        chunks = (
            [
                encode_chunk(
                    source=source, plan=plan, chunk=c, out_dir=out, threads=1, preset="ultrafast"
                )
                for c in plan.chunks
            ]
            if plan.rungs
            else []
        )
        audio = encode_audio(source=source, plan=plan, out_dir=out) if plan.audio else None
        result = package(plan=plan, chunks=chunks, audio=audio, out_dir=out)
        return Ladder(source=source, out=out, plan=plan, chunks=chunks, audio=audio, package=result)

    return run
