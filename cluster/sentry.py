"""Error tracking: Sentry, in every Ray worker, when a DSN is set; nothing otherwise.

`runtime.start` puts `setup_worker` in the job's runtime env as Ray's
`worker_process_setup_hook`, with the DSN as `SENTRY_DSN` in the workers' environment,
so each worker process of the job (its tasks, and its actors: the job actor, the
scheduler, the upload edges, and the tasks they start) initialises Sentry once, before
it runs anything. sentry-sdk's Ray integration then reports the exceptions
of Ray tasks with the task's name, and its logging integration every `log.exception`
(the scheduler's failed runs, the job actor's failed jobs). Without a DSN the hook is
not installed and sentry-sdk is never imported: nothing can be sent.

serve-config.yaml names the same hook in each application's runtime env, for clusters
deployed without `vidray up` (`serve deploy`, KubeRay): there the DSN is the nodes'
`VIDRAY_SENTRY_DSN` or `SENTRY_DSN`, and without one the hook does nothing.
"""

from __future__ import annotations

import os
from typing import Any

from cluster.config import Settings

HOOK = "cluster.sentry.setup_worker"


def init(dsn: str | None) -> bool:
    """Start Sentry in this process; False (and nothing done) without a DSN."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.ray import RayIntegration

    # No personal data: no request bodies, cookies or user ids leave the cluster.
    sentry_sdk.init(dsn=dsn, integrations=[RayIntegration()], send_default_pii=False)
    return True


def setup_worker() -> None:
    """Ray's worker_process_setup_hook: the DSN comes through the runtime env (a hook
    takes no arguments, and runs before any setting could be passed in) or, on a cluster
    deployed from serve-config.yaml, from the node's own environment."""
    init(os.environ.get("SENTRY_DSN") or os.environ.get("VIDRAY_SENTRY_DSN"))


def runtime_env(settings: Settings) -> dict[str, Any]:
    """The runtime-env entries that start Sentry in every worker; empty without a DSN."""
    if settings.sentry_dsn is None:
        return {}
    return {
        "worker_process_setup_hook": HOOK,
        "env_vars": {"SENTRY_DSN": settings.sentry_dsn.get_secret_value()},
    }
