"""The browser's session endpoints and the headers every page carries.

The refresh token lives only in an HttpOnly, SameSite=Strict cookie scoped to /auth; the
page sees the access token alone. Run on SQLite and PostgreSQL (the `engine` fixture).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from cluster.config import load_settings
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from serve.web.pages import APP_PAGES
from serve.web.session import COOKIE
from serve.web.session import create_router as session_router
from tests.support.accounts import latest_code
from tests.support.graphql import graphql_async

EMAIL = "cookie@example.com"
REQUEST = "mutation($email: String!) { requestOtp(email: $email) }"
ME = "{ me { email } }"
EDGE = "http://edge.vidray:8001"  # where createUpload sends browsers
TEMPLATES = Path(__file__).resolve().parents[4] / "serve" / "web" / "templates"


@pytest.fixture
async def site(tmp_path: Path, engine: Engine) -> AsyncIterator[tuple[httpx.AsyncClient, Platform]]:
    platform = Platform(load_settings(data_dir=tmp_path), engine=engine)
    gateway = Gateway(platform, upload_base=lambda _: EDGE)
    transport = httpx.ASGITransport(app=create_app(gateway))
    async with httpx.AsyncClient(transport=transport, base_url="http://vidray") as client:
        yield client, platform


async def sign_in(client: httpx.AsyncClient, platform: Platform, email: str = EMAIL) -> Any:
    await graphql_async(client, REQUEST, email=email)
    code = latest_code(platform.settings.outbox_dir, email)
    return await client.post("/auth/session", json={"email": email, "code": code})


def cookie_header(answer: httpx.Response) -> str:
    return next(v for v in answer.headers.get_list("set-cookie") if v.startswith(COOKIE))


async def test_a_code_signs_in_with_the_refresh_token_in_a_cookie_only_auth_sees(
    site: tuple[httpx.AsyncClient, Platform],
) -> None:
    client, platform = site
    answer = await sign_in(client, platform)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"accessToken", "expiresIn", "user"}  # no refresh token for scripts
    header = cookie_header(answer).lower()
    assert "httponly" in header and "samesite=strict" in header and "path=/auth" in header
    assert "secure" not in header  # dev mode: plain http on localhost
    me = await graphql_async(client, ME, body["accessToken"])
    assert me["data"]["me"]["email"] == EMAIL

    # Refreshing rotates the cookie and gives a new access token.
    fresh = await client.post("/auth/refresh", json={})
    assert fresh.status_code == 200 and fresh.json()["accessToken"]
    assert cookie_header(fresh) != cookie_header(answer)


async def test_signing_out_everywhere_ends_every_browser_session(
    site: tuple[httpx.AsyncClient, Platform],
) -> None:
    client, platform = site
    signed = await sign_in(client, platform)
    first = signed.json()
    first_cookie = cookie_header(signed).split(";", 1)[0]  # "vidray_refresh=..."
    client.cookies.clear()
    await sign_in(client, platform)  # a second browser
    out = await client.post(
        "/auth/signout",
        json={"everywhere": True},
        headers={"authorization": f"Bearer {first['accessToken']}"},
    )
    assert out.status_code == 200
    assert "max-age=0" in cookie_header(out).lower()  # this browser's cookie is gone
    client.cookies.clear()
    # The first browser's cookie, still in its jar, no longer refreshes anything.
    refused = await client.post("/auth/refresh", json={}, headers={"cookie": first_cookie})
    assert refused.status_code == 401, refused.text


async def test_signed_out_refresh_is_quiet_and_forms_are_refused(
    site: tuple[httpx.AsyncClient, Platform],
) -> None:
    client, _ = site
    quiet = await client.post("/auth/refresh", json={})
    assert quiet.status_code == 200 and quiet.json() == {"accessToken": None}
    # A cross-site form cannot send JSON without a preflight: form posts are refused.
    form = await client.post("/auth/session", data={"email": EMAIL, "code": "123456"})
    assert form.status_code == 415
    wrong = await client.post("/auth/session", json={"email": EMAIL, "code": "000000"})
    assert wrong.status_code == 401 and "code" in wrong.json()["error"]


async def test_a_password_signs_in_too(site: tuple[httpx.AsyncClient, Platform]) -> None:
    client, platform = site
    token = (await sign_in(client, platform)).json()["accessToken"]
    set_password = 'mutation { setPassword(password: "correct horse battery") }'
    assert (await graphql_async(client, set_password, token))["data"]["setPassword"]
    answer = await client.post(
        "/auth/session", json={"identifier": EMAIL, "password": "correct horse battery"}
    )
    assert answer.status_code == 200 and answer.json()["user"]["handle"]


async def test_the_cookie_is_secure_in_prod(tmp_path: Path, engine: Engine) -> None:
    platform = Platform(load_settings(data_dir=tmp_path), engine=engine)
    app = FastAPI()
    app.include_router(session_router(accounts=platform.accounts, secure=True, refresh_ttl_s=60))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://vidray") as client:
        platform.accounts.request_otp(email=EMAIL)
        code = latest_code(platform.settings.outbox_dir, EMAIL)
        answer = await client.post("/auth/session", json={"email": EMAIL, "code": code})
    assert "secure" in cookie_header(answer).lower()


async def test_every_page_carries_a_strict_policy(
    site: tuple[httpx.AsyncClient, Platform],
) -> None:
    client, _ = site
    pages = ["/", "/?sort=popular", *(f"/{name}" for name in APP_PAGES), "/watch/nothing-here"]
    for path in pages:
        page = await client.get(path)
        assert page.headers["content-type"].startswith("text/html"), path
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe" not in policy, (path, policy)
        assert "object-src 'none'" in policy and "frame-ancestors 'none'" in policy
        # The upload edge is another origin: tus-js-client may talk to it.
        assert re.search(f"connect-src [^;]*{EDGE}", policy), policy
        assert page.headers["x-content-type-options"] == "nosniff"
    assert (await client.get("/watch/nothing-here")).status_code == 404
    assert (await client.get("/?sort=oldest")).status_code == 400
    # The same headers on the JSON and static answers do no harm, but no policy there.
    assert "content-security-policy" not in (await client.get("/static/site.css")).headers


def test_no_template_has_an_inline_script_or_style() -> None:
    for template in TEMPLATES.glob("*.html"):
        if template.name == "graphiql.html":  # dev mode's GraphiQL keeps its own page
            continue
        text = template.read_text()
        inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", text)
        assert inline == [], (template.name, inline)
        assert " style=" not in text and "<style" not in text, template.name
        assert not re.search(r"\son[a-z]+=", text), template.name
