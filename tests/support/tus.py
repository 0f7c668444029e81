"""tus requests that no client library sends on purpose: a PATCH whose body is cut."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

from tests.support.waiting import eventually


def _queues(port: int, *, remote: int) -> tuple[int, int] | None:
    """(send, receive) queue bytes of the TCP socket on local `port` talking to `remote`,
    as the kernel lists it in /proc/net/tcp{,6}; None when it lists no such socket."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.is_file():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            local, peer, queues = fields[1], fields[2], fields[4]
            if (
                int(local.rsplit(":", 1)[1], 16) == port
                and int(peer.rsplit(":", 1)[1], 16) == remote
            ):
                send, receive = queues.split(":")
                return int(send, 16), int(receive, 16)
    return None


def cut_patch(url: str, token: str, body: bytes, *, declared: int) -> None:
    """A tus PATCH at offset 0 that promises `declared` bytes, sends `body`, and hangs up.

    It hangs up only once the server has read every byte sent off its socket: the server
    keeps what arrived, and a connection dropped earlier would lose bytes still in
    flight. The server must run on this machine (its socket is read from /proc).
    """
    parts = urlsplit(url)
    head = (
        f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n"
        "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    ).encode()
    assert parts.hostname is not None
    server_port = parts.port or 80
    with socket.create_connection((parts.hostname, server_port), timeout=10) as sock:
        sock.sendall(head + body)
        client_port = sock.getsockname()[1]

        def read_by_the_server() -> bool:
            ours = _queues(client_port, remote=server_port)
            theirs = _queues(server_port, remote=client_port)
            return ours is not None and theirs is not None and ours[0] == 0 and theirs[1] == 0

        eventually(read_by_the_server, timeout=30, what="the server reading the cut body")
