"""A Ray task that fails, in a Ray session started the way `vidray up` starts one.

Run as a program (`python -m tests.support.sentried DATA_DIR`) by the Sentry test, so
that the session is its own: the runtime env that installs Sentry in every worker is
set when Ray starts. The environment decides: `SENTRY_DSN` set or not. Prints one JSON
line: the task's error, and whether the worker that ran it had imported sentry-sdk.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def explode(message: str) -> None:
    raise RuntimeError(message)


def worker_has_sentry() -> bool:
    return "sentry_sdk" in sys.modules


def main(data_dir: Path) -> dict[str, object]:
    import ray

    from cluster import runtime
    from cluster.config import load_settings

    settings = load_settings(data_dir=data_dir)
    runtime.start(settings, num_cpus=1)
    try:
        # Applied after the start: sentry-sdk's Ray integration wraps `ray.remote`.
        failing = ray.remote(num_cpus=0, max_retries=0)(explode)
        probe = ray.remote(num_cpus=0)(worker_has_sentry)
        try:
            ray.get(failing.remote("a transcode worker broke"))
        except ray.exceptions.RayTaskError as exc:
            error = str(exc.cause)
        return {"error": error, "worker_has_sentry": ray.get(probe.remote())}
    finally:
        runtime.stop()


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
