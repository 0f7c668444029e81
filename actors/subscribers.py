"""Who the dispatcher feeds: subscriber name -> the named actor that handles its events.

The subscriber name keys the durable cursor (`subscriber_cursors.name`): renaming one
gives it a new cursor at the outbox's head, so it misses what came before. Each actor implements
`cluster.events.Subscriber` (`async def handle(self, events)`, idempotent on the event
id) and is started by `serve/app.py start_actors` next to the dispatcher. To add one
(analytics counters, say): add a line here, and start its
actor in `start_actors`. A new name's cursor starts at the outbox's head (no history);
one whose actor is not running yet is no harm: its events wait for it.
"""

from __future__ import annotations

REGISTRY: dict[str, str] = {
    "webhooks": "webhooks",  # actors/webhooks.py: signed HTTP deliveries
    "notifier": "notifier",  # actors/notifier.py: inbox, email and SMS
    "search_index": "search_index",  # actors/search_index.py: the whoosh writer
}
