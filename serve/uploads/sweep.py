"""The upload sweep as periodic work: the scheduler actor runs it as a Ray task."""

from __future__ import annotations

import logging

from actors.jobs_client import JobsClient
from cluster.config import Settings
from serve.platform import Platform
from serve.uploads.expiry import sweep

log = logging.getLogger(__name__)


def sweep_uploads(settings: Settings) -> int:
    """Reclaim expired uploads and hand over stranded ones; how many were reclaimed."""
    platform = Platform(settings, jobs=JobsClient.connect(settings))
    try:
        reclaimed = sweep(platform.uploads)
    finally:
        platform.close()
    if reclaimed:
        log.info("upload sweep reclaimed %d expired uploads", reclaimed)
    return reclaimed
