"""Wiring of the whole application: the one place that binds deployments.

`vidray up` runs `build_app(settings)`; each deployment gets its settings and the
handles it needs through its constructor.
"""

from __future__ import annotations

from ray import serve
from ray.serve import Application

from cluster.config import Settings
from serve.gateway.app import Gateway

APP_NAME = "vidray"

# The ingress does little CPU work per request; leave the cores to transcoding.
GatewayDeployment = serve.deployment(name="gateway", ray_actor_options={"num_cpus": 0})(
    serve.ingress()(Gateway)
)


def build_app(settings: Settings) -> Application:
    return GatewayDeployment.bind(settings)
