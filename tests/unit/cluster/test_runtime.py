"""Joining a Ray cluster that is not there fails at once, naming RAY_ADDRESS."""

from __future__ import annotations

import socket
import time
from contextlib import closing

import pytest

from cluster import runtime
from cluster.config import load_settings
from cluster.errors import ServiceUnavailable


@pytest.mark.parametrize("form", ["127.0.0.1:{port}", "ray://127.0.0.1:{port}"])
def test_an_address_where_nothing_listens_is_refused_before_ray_starts(
    free_tcp_port: int, form: str
) -> None:
    settings = load_settings(ray_address=form.format(port=free_tcp_port))
    started = time.monotonic()
    # The unit conftest makes ray.init raise: reaching it would fail this test differently.
    with pytest.raises(ServiceUnavailable) as caught:
        runtime.start(settings)
    assert caught.value.variable == "RAY_ADDRESS"
    assert f"127.0.0.1:{free_tcp_port}" in str(caught.value)
    assert time.monotonic() - started < 10


def test_a_listening_address_passes_the_check() -> None:
    with closing(socket.socket()) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        runtime.check_reachable(f"127.0.0.1:{server.getsockname()[1]}")


@pytest.mark.parametrize("address", ["auto", "local"])
def test_addresses_without_a_host_are_left_to_ray(address: str) -> None:
    runtime.check_reachable(address)


def test_a_malformed_port_names_the_variable() -> None:
    with pytest.raises(ServiceUnavailable) as caught:
        runtime.check_reachable("head:port")
    assert caught.value.variable == "RAY_ADDRESS"
