"""Search, suggestions and trending searches (`serve/search/`), as GraphQL.

Filter and sort names follow PeerTube's search API (`categoryOneOf`, `-publishedAt`).
Snippets are HTML with every character of the video's text escaped and matches in
`<mark>`: a page may insert them as they are.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

import strawberry
from starlette.concurrency import run_in_threadpool

from cluster.errors import ServiceUnavailable
from serve.gateway.video_types import Ctx, PageInfo, Video
from serve.search.service import Facets, Search, SearchFilter, SearchPage, Sort
from serve.search.trending import Trending


@strawberry.input(description="PeerTube's search filters; all given must hold.")
class SearchFilterInput:
    category_one_of: list[str] | None = None
    tags_one_of: list[str] | None = None
    tags_all_of: list[str] | None = None
    duration_min: float | None = strawberry.field(default=None, description="Seconds.")
    duration_max: float | None = strawberry.field(default=None, description="Seconds.")
    start_date: datetime | None = strawberry.field(default=None, description="Published from.")
    end_date: datetime | None = strawberry.field(default=None, description="Published until.")
    creator: str | None = strawberry.field(default=None, description="A creator's id or handle.")
    language: str | None = strawberry.field(default=None, description="Has captions in it.")

    def view(self) -> SearchFilter:
        return SearchFilter(
            category_one_of=tuple(self.category_one_of or ()),
            tags_one_of=tuple(self.tags_one_of or ()),
            tags_all_of=tuple(self.tags_all_of or ()),
            duration_min=self.duration_min,
            duration_max=self.duration_max,
            start_date=self.start_date,
            end_date=self.end_date,
            creator=self.creator,
            language=self.language,
        )


@strawberry.type
class SearchHit:
    video: Video
    cursor: str
    score: float
    title_html: str = strawberry.field(description="Escaped; matched words in <mark>.")
    snippet_html: str | None = strawberry.field(
        description="From the description or a caption cue; escaped, matches in <mark>."
    )
    start_seconds: float | None = strawberry.field(
        description="Where a matched caption cue starts."
    )
    link: str = strawberry.field(description="/watch/{id}, with ?t=SECONDS for a caption hit.")


@strawberry.type
class FacetCount:
    value: str
    count: int


@strawberry.type(description="Counts over every match of the query and filters.")
class SearchFacets:
    category: list[FacetCount]
    tags: list[FacetCount]
    duration: list[FacetCount] = strawberry.field(description="short <4 min, medium, long >20.")
    creator: list[FacetCount]

    @classmethod
    def of(cls, facets: Facets) -> SearchFacets:
        def counts(values: dict[str, int]) -> list[FacetCount]:
            return [FacetCount(value=v, count=c) for v, c in values.items()]

        return cls(
            category=counts(facets.category),
            tags=counts(facets.tags),
            duration=counts(facets.duration),
            creator=counts(facets.creator),
        )


@strawberry.type
class SearchResults:
    hits: list[SearchHit]
    total: int = strawberry.field(description="Matches before the visibility re-check.")
    page_info: PageInfo
    facets: SearchFacets | None


def _search(info: Ctx) -> Search:
    if info.context.search is None:
        raise ServiceUnavailable("VIDRAY_DATA_DIR", "search is not set up in this process")
    return info.context.search


def _wants_facets(info: Ctx) -> bool:
    return any(
        getattr(selection, "name", None) == "facets"
        for field in info.selected_fields
        for selection in field.selections
    )


@strawberry.type
class SearchQueries:
    @strawberry.field(
        description="Videos matching `query` (typos and a prefix on the last word "
        "allowed), best first or in `sort` order: -match, -publishedAt, -views, -likes, "
        "duration."
    )
    async def search(
        self,
        info: Ctx,
        query: str = "",
        filter: SearchFilterInput | None = None,
        sort: str = "-match",
        first: int = 20,
        after: str | None = None,
    ) -> SearchResults:
        context = info.context
        context.refuse_bad_token()
        page: SearchPage = await run_in_threadpool(
            lambda: _search(info).search(
                query,
                viewer_id=context.viewer_id,
                filter=filter.view() if filter is not None else None,
                sort=cast(Sort, sort),
                first=first,
                after=after,
                facets=_wants_facets(info),
            )
        )
        views = await run_in_threadpool(
            context.library.videos_by_id,
            [hit.video_id for hit in page.hits],
            viewer_id=context.viewer_id,
        )
        hits = [
            SearchHit(
                video=Video.of(view),
                cursor=hit.cursor,
                score=hit.score,
                title_html=hit.title_html,
                snippet_html=hit.snippet_html,
                start_seconds=hit.moment,
                link=hit.link,
            )
            for hit, view in zip(page.hits, views, strict=True)
            if view is not None
        ]
        return SearchResults(
            hits=hits,
            total=page.total,
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor),
            facets=SearchFacets.of(page.facets) if page.facets is not None else None,
        )

    @strawberry.field(description="Titles for a search box, the last word as a prefix.")
    async def suggest(self, info: Ctx, prefix: str) -> list[str]:
        info.context.refuse_bad_token()
        viewer = info.context.viewer_id
        return await run_in_threadpool(lambda: _search(info).suggest(prefix, viewer_id=viewer))

    @strawberry.field(description="What many people searched for in the last 24 hours.")
    async def trending_searches(self, info: Ctx) -> list[str]:
        trending: Trending | None = info.context.trending
        if trending is None:
            return []
        return await run_in_threadpool(trending.top)
