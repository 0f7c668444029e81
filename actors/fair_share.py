"""Fair share between owners: whose queued transcode runs next."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Queued:
    id: str
    owner_id: str
    created_at: datetime


def pick_next(queued: Sequence[Queued], running_owners: Sequence[str]) -> Queued | None:
    """Fair share: the owner with fewest running jobs first, then the oldest job.

    >>> from datetime import datetime as dt
    >>> a1, a2 = Queued("a1", "ann", dt(2026, 1, 1)), Queued("a2", "ann", dt(2026, 1, 2))
    >>> b1 = Queued("b1", "bob", dt(2026, 1, 3))
    >>> pick_next([a1, a2, b1], running_owners=["ann"]).id
    'b1'
    """
    if not queued:
        return None
    running = Counter(running_owners)
    return min(queued, key=lambda q: (running[q.owner_id], q.created_at, q.id))
