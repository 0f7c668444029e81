"""Joining a Ray cluster that is not there fails at once, naming RAY_ADDRESS; a local
start that Ray times out is tried again."""

from __future__ import annotations

import socket
import subprocess
import sys
from contextlib import closing

import pytest

from cluster import runtime
from cluster.errors import ServiceUnavailable


@pytest.mark.parametrize("form", ["127.0.0.1:{port}", "ray://127.0.0.1:{port}"])
def test_an_address_where_nothing_listens_is_refused(free_tcp_port: int, form: str) -> None:
    # `vidray up` runs this check before ray.init, which would otherwise retry for
    # minutes; tests/e2e/test_up.py shows the one-line error end to end.
    with pytest.raises(ServiceUnavailable) as caught:
        runtime.check_reachable(form.format(port=free_tcp_port))
    assert caught.value.variable == "RAY_ADDRESS"
    assert f"127.0.0.1:{free_tcp_port}" in str(caught.value)


def test_a_listening_address_passes_the_check() -> None:
    with closing(socket.socket()) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        runtime.check_reachable(f"127.0.0.1:{server.getsockname()[1]}")


def test_a_malformed_port_names_the_variable() -> None:
    with pytest.raises(ServiceUnavailable) as caught:
        runtime.check_reachable("head:port")
    assert caught.value.variable == "RAY_ADDRESS"


class _SlowRaylet:
    """Ray's start on an overloaded machine: the first try leaves a process behind and
    raises Ray's own "timed out during startup"; later tries succeed. (The machine cannot
    be made reliably that slow in a test, so `ray.init` is the one part stood in for.)"""

    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0
        self.left_behind: list[subprocess.Popen[bytes]] = []

    def __call__(self, **options: object) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            self.left_behind.append(subprocess.Popen([sys.executable, "-c", "input()"], stdin=-1))
            raise Exception("The current node timed out during startup. This could happen")
        return "context"


def test_a_local_start_that_times_out_is_tried_again_without_its_leftovers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ray_init = _SlowRaylet(failures=1)
    monkeypatch.setattr(runtime.ray, "init", ray_init)
    assert runtime._start_local(namespace="t") == "context"
    assert ray_init.calls == 2
    # Gone (psutil reaped it, so its status is no longer ours to read).
    assert [proc.poll() is not None for proc in ray_init.left_behind] == [True]


def test_a_start_that_keeps_timing_out_says_the_machine_is_overloaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ray_init = _SlowRaylet(failures=runtime.LOCAL_START_ATTEMPTS)
    monkeypatch.setattr(runtime.ray, "init", ray_init)
    with pytest.raises(RuntimeError, match="overloaded"):
        runtime._start_local(namespace="t")
    assert ray_init.calls == runtime.LOCAL_START_ATTEMPTS
    assert all(proc.poll() is not None for proc in ray_init.left_behind)
