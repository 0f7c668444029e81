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

The source is probed once: by `probe_source` (a caller that must check an upload before
planning, such as the job actor, passes the result on as `transcode(probe=...)`) or else
by the graph's first task. Planning, the poster and the storyboard read that probe, and
it comes back on `Result.probe`.

    options.py  what a transcode is asked for (`Options`), and the plan and chunk shape
    graph.py    the driver: probe, plan, scheduling, time limits, `Result`
    tasks.py    the `@ray.remote` tasks over `pipelines.media`
    publish.py  staged segments to final keys, playlists rewritten, the rendition list
"""

from .attempts import Attempt
from .graph import Progress, Result, probe_source, transcode
from .options import PER_TITLE_AUTO_S, Accelerator, Options, chunk_size, per_title_for
from .tasks import Source, StoreFactory

__all__ = [
    "PER_TITLE_AUTO_S",
    "Accelerator",
    "Attempt",
    "Options",
    "Progress",
    "Result",
    "Source",
    "StoreFactory",
    "chunk_size",
    "per_title_for",
    "probe_source",
    "transcode",
]
