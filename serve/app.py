"""Wiring of the whole application: the one place that binds deployments.

`vidray up` runs `build_app(settings)`; each deployment gets its settings and the
handles it needs through its constructor.
"""

from __future__ import annotations

from ray import serve
from ray.serve import Application

from cluster.config import Settings
from serve.gateway.app import Gateway
from serve.users import Users

APP_NAME = "vidray"

# The ingress does little CPU work per request; leave the cores to transcoding.
GatewayDeployment = serve.deployment(name="gateway", ray_actor_options={"num_cpus": 0})(
    serve.ingress()(Gateway)
)


class UsersReplica(Users):
    """Accounts and sessions. Its methods are synchronous (database, bcrypt, SMTP);
    Serve runs them in the replica's thread pool, so they do not block each other."""

    def __init__(self, settings: Settings) -> None:
        local = Users.from_settings(settings)
        super().__init__(
            settings=settings,
            sessions=local.sessions,
            kv=local.kv,
            store=local.store,
            sender=local.sender,
        )


UsersDeployment = serve.deployment(name="users", ray_actor_options={"num_cpus": 0})(UsersReplica)


def build_app(settings: Settings) -> Application:
    return GatewayDeployment.bind(settings, UsersDeployment.bind(settings))
