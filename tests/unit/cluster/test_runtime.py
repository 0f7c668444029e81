"""Joining a Ray cluster that is not there fails at once, naming RAY_ADDRESS."""

from __future__ import annotations

import socket
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
