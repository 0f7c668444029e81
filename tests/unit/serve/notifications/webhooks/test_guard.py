"""The SSRF guard: every spelling of a forbidden address is refused, loopback only when
the setting allows it, and a public address passes (checked, never connected to here)."""

from __future__ import annotations

import pytest

from cluster.errors import InvalidInput
from serve.notifications.webhooks.guard import check_url

LOOPBACK = [
    "http://127.0.0.1/hook",
    "http://127.1/hook",
    "http://0x7f000001/hook",
    "http://017700000001/hook",
    "http://2130706433/hook",
    "http://127.255.255.254:8080/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:7f00:1]/hook",
    "http://localhost/hook",  # a name that resolves to loopback
]
NEVER = [
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://[fe80::1]/hook",
    "http://10.0.0.1/hook",
    "http://172.16.5.4/hook",
    "http://192.168.1.1/hook",
    "http://0xa000001/hook",  # 10.0.0.1
    "http://[::ffff:10.0.0.1]/hook",
    "http://[::ffff:169.254.169.254]/hook",
    "http://100.64.0.1/hook",  # CGNAT
    "http://[fd00::1]/hook",  # unique local
    "http://0.0.0.0/hook",
    "http://224.0.0.1/hook",
    "http://240.0.0.1/hook",
]


def check(url: str, *, loopback: bool = False, http: bool = True) -> object:
    return check_url(url, allow_http=http, allow_loopback=loopback)


@pytest.mark.parametrize("url", LOOPBACK + NEVER)
def test_forbidden_addresses_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="webhooks only reach public hosts") as refused:
        check(url)
    assert refused.value.field == "url"


@pytest.mark.parametrize("url", LOOPBACK)
def test_the_setting_allows_loopback_and_pins_its_address(url: str) -> None:
    target = check(url, loopback=True)
    assert target.address in {"127.0.0.1", "::1", "127.255.255.254"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("url", NEVER)
def test_allowing_loopback_allows_nothing_else(url: str) -> None:
    with pytest.raises(InvalidInput):
        check(url, loopback=True)


def test_a_public_address_passes_and_keeps_its_host_for_the_header() -> None:
    target = check_url("https://93.184.215.14:8443/in?x=1", allow_http=False, allow_loopback=False)
    assert target.connect_url == "https://93.184.215.14:8443/in?x=1"
    assert target.host_header == "93.184.215.14:8443"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://93.184.215.14/hook", "must use https"),
        ("ftp://93.184.215.14/hook", "absolute https"),
        ("https://user:pw@93.184.215.14/hook", "user or password"),
        ("/relative", "absolute https"),
        ("https://[::1/hook", "not a URL"),
    ],
)
def test_malformed_or_plain_http_urls_are_refused_in_prod(url: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why):
        check(url, http=False)
