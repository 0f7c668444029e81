"""Captions of a video (`serve/library/captions.py`), as GraphQL.

`addCaptions` takes the file's text in `file` (WebVTT or SRT, UTF-8, at most 2 MiB):
the gateway has no multipart uploads, and a caption file is small text.
"""

from __future__ import annotations

import strawberry
from starlette.concurrency import run_in_threadpool

from cluster.errors import ServiceUnavailable
from serve.gateway.video_types import Ctx
from serve.library.captions import Captions, CaptionView


@strawberry.type(description="One language's captions of a video.")
class CaptionTrack:
    language: str
    label: str
    source: str = strawberry.field(description="upload, or asr once speech recognition runs.")
    cue_count: int

    @classmethod
    def of(cls, view: CaptionView) -> CaptionTrack:
        return cls(
            language=view.language, label=view.label, source=view.source, cue_count=view.cue_count
        )


def _captions(info: Ctx) -> Captions:
    if info.context.captions is None:
        raise ServiceUnavailable("VIDRAY_DATA_DIR", "captions are not set up in this process")
    return info.context.captions


@strawberry.type
class CaptionQueries:
    @strawberry.field(description="The caption languages of a video you may see.")
    async def captions(self, info: Ctx, video_id: strawberry.ID) -> list[CaptionTrack]:
        info.context.refuse_bad_token()
        viewer = info.context.viewer_id
        views = await run_in_threadpool(
            lambda: _captions(info).of_video(video_id=str(video_id), viewer_id=viewer)
        )
        return [CaptionTrack.of(view) for view in views]


@strawberry.type
class CaptionMutations:
    @strawberry.mutation(
        description="Add (or replace) a video's captions in `language` (a tag such as 'en' "
        "or 'pt-BR'): `file` is the WebVTT or SRT text. Owners only."
    )
    async def add_captions(
        self, info: Ctx, video_id: strawberry.ID, language: str, file: str, label: str = ""
    ) -> CaptionTrack:
        viewer = info.context.require_viewer()
        view = await run_in_threadpool(
            lambda: _captions(info).add(
                video_id=str(video_id),
                actor_id=viewer.id,
                language=language,
                data=file.encode("utf-8", errors="replace"),
                label=label,
            )
        )
        return CaptionTrack.of(view)

    @strawberry.mutation(description="Remove a video's captions in `language`. Owners only.")
    async def remove_captions(self, info: Ctx, video_id: strawberry.ID, language: str) -> bool:
        viewer = info.context.require_viewer()
        await run_in_threadpool(
            lambda: _captions(info).remove(
                video_id=str(video_id), actor_id=viewer.id, language=language
            )
        )
        return True
