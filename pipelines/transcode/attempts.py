"""Chunk attempts: what the driver tells its caller about every try at a chunk, and how
it tells a lost try (the worker or its node died: try again) from a failed one.

Chunks are retried by the driver, not by Ray (`max_retries=0` on the chunk task): Ray's
own retries are invisible to the caller, and the job board must show a retried chunk,
the node it was lost on and why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import ray

log = logging.getLogger(__name__)

Outcome = Literal["running", "done", "lost", "failed"]
ChunkKey = tuple[int, tuple[str, ...]]  # (chunk index, rung names)


@dataclass(frozen=True)
class Attempt:
    """One try at one chunk; reported when it is submitted and again when it ends."""

    task: str  # "chunk 3"
    chunk: int
    rungs: tuple[str, ...]
    retry: int  # 0: the first try
    outcome: Outcome
    node_id: str | None = None
    worker_id: str | None = None
    error: str | None = None
    # The chunk's output (`ChunkOutput.to_dict()`) once done: a resumed job publishes it
    # again without encoding it again.
    output: dict[str, Any] | None = field(default=None, compare=False)
    # A done try's clock, from its worker: {"started": epoch s, "task_s": s}
    timing: dict[str, float] | None = field(default=None, compare=False)


def lost(exc: BaseException) -> bool:
    """The task's worker or node went away (not the task's own error, a timeout or a
    cancellation): the same chunk may be tried again elsewhere."""
    return isinstance(exc, ray.exceptions.RayError) and not isinstance(
        exc,
        ray.exceptions.RayTaskError
        | ray.exceptions.GetTimeoutError
        | ray.exceptions.TaskCancelledError,
    )


def cause(exc: BaseException) -> str:
    """A one-line cause for the ledger: the error's class, then its first line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()


def where(ref: ray.ObjectRef) -> tuple[str | None, str | None]:
    """The node and worker a finished or lost task ran on, from Ray's state API; (None,
    None) where that API is not running (no dashboard) or has not heard of it yet."""
    try:
        from ray.util.state import get_task

        task = get_task(ref.task_id().hex(), timeout=5, _explain=False)
    except Exception as exc:  # the state API is optional: the ledger still has the cause
        log.debug("no task state for %s: %s", ref, exc)
        return None, None
    if task is None:
        return None, None
    found = task[-1] if isinstance(task, list) else task
    return getattr(found, "node_id", None), getattr(found, "worker_id", None)
