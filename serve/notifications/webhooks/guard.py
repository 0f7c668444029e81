"""The SSRF guard: which addresses a webhook may reach, checked at registration and
again before every send, and the one address a send may then connect to.

Every host goes through the system resolver (`getaddrinfo`), which also turns the odd
spellings of an IPv4 address into the address itself (`127.1`, `0x7f000001`,
`017700000001`, `2130706433`), so there is one check, on what a socket would reach. An
IPv6-mapped IPv4 address (`::ffff:127.0.0.1`) is checked as the IPv4 address it is.
A host with any forbidden address is refused as a whole: a name that answers with one
public and one private address is an attack, not a fallback. The sender connects to the
address checked here, never resolving the name again (no DNS rebinding between the
check and the connection), and sends the name as Host header and TLS SNI.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from cluster.errors import InvalidInput

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str, int], list[str]]


def system_resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput("url", f"the host {host!r} does not resolve ({exc}): check it") from None
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True)
class Target:
    """Where a send connects: `address` (checked), for `host` (Host header, SNI)."""

    scheme: str
    host: str
    port: int
    address: str
    path: str  # with the query, as the owner wrote it

    @property
    def connect_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        literal = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{literal}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = {"http": 80, "https": 443}[self.scheme]
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def _plain(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def refusal(address: Address, *, allow_loopback: bool) -> str | None:
    """Why `address` may not be called, or None if it may."""
    plain = _plain(address)
    if plain.is_loopback:
        return None if allow_loopback else "a loopback address"
    if plain.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if isinstance(plain, ipaddress.IPv4Address) and plain in _CGNAT:
        return "a carrier-grade NAT address"
    if plain.is_private:
        return "a private address"
    if plain.is_multicast or plain.is_unspecified or plain.is_reserved:
        return "a reserved address"
    if not plain.is_global:
        return "an address that is not on the public internet"
    return None


_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")


def check_url(
    url: str, *, allow_http: bool, allow_loopback: bool, resolve: Resolve = system_resolve
) -> Target:
    """The target of `url`, or `InvalidInput("url", why)` if it may not be called."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise InvalidInput("url", "is not a URL: send an absolute https:// URL") from None
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidInput("url", "must be an absolute https:// URL")
    if scheme == "http" and not allow_http:
        raise InvalidInput("url", "must use https (plain http is refused in prod mode)")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("url", "must not carry a user or password: sign requests instead")
    host = parts.hostname
    port = port or (443 if scheme == "https" else 80)
    addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolve(host, port)]
    if not addresses:
        raise InvalidInput("url", f"the host {host!r} has no address")
    for address in addresses:
        why = refusal(address, allow_loopback=allow_loopback)
        if why is not None:
            raise InvalidInput(
                "url", f"{host} resolves to {address}, {why}: webhooks only reach public hosts"
            )
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return Target(scheme=scheme, host=host, port=port, address=str(_plain(addresses[0])), path=path)
