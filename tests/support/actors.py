"""Stand-in actors for tests that need a named actor to exist and answer, and nothing
more (readiness probes). Here, not in a test module: Ray workers import it by name."""

from __future__ import annotations


class Standing:
    """An actor with no methods of its own: it answers Ray's __ray_ready__."""
