"""Sign-in, sessions and admin over GraphQL, through the gateway's ASGI app.

These run on SQLite and the embedded KV with a fake clock; the same `Accounts` logic is
tested against PostgreSQL and Redis in test_users.py.
"""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from cluster import db
from cluster.config import Settings, load_settings
from cluster.kv import EmbeddedKV
from serve.accounts.service import Accounts
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from tests.support.accounts import latest_code
from tests.support.clock import FakeClock
from tests.support.graphql import graphql_async

EMAIL = "ana@example.com"
REQUEST = "mutation($email: String, $phone: String) { requestOtp(email: $email, phone: $phone) }"
VERIFY = """mutation($email: String, $phone: String, $code: String!) {
  verifyOtp(email: $email, phone: $phone, code: $code) {
    accessToken refreshToken expiresIn user { id handle email phone tier role }
  }
}"""
REFRESH = """mutation($refresh: String!) {
  refreshSession(refreshToken: $refresh) { accessToken refreshToken }
}"""
ME = "{ me { id handle displayName suspended tier limits { maxOutputHeight privateVideos } } }"


class Api:
    def __init__(self, client: httpx.AsyncClient, users: Accounts) -> None:
        self.client = client
        self.users = users

    async def gql(self, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        return await graphql_async(self.client, query, token, **variables)

    def code(self, to: str = EMAIL) -> str:
        return latest_code(self.users.settings.outbox_dir, to)

    async def sign_in(self, email: str = EMAIL) -> dict[str, Any]:
        await self.gql(REQUEST, email=email)
        body = await self.gql(VERIFY, email=email, code=self.code(email))
        payload: dict[str, Any] = body["data"]["verifyOtp"]
        return payload


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path)


@pytest.fixture
async def api(settings: Settings, clock: FakeClock) -> AsyncIterator[Api]:
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    kv = EmbeddedKV(settings.data_dir / "kv.sqlite3", clock=clock)
    platform = Platform(settings, engine=engine, kv=kv, clock=clock)
    app = create_app(Gateway(platform))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://vidray") as client:
        yield Api(client, platform.accounts)
    engine.dispose()


async def test_sign_up_by_email_then_me(api: Api) -> None:
    assert (await api.gql(REQUEST, email=EMAIL)) == {"data": {"requestOtp": True}}
    session = (await api.gql(VERIFY, email=EMAIL, code=api.code()))["data"]["verifyOtp"]
    assert session["expiresIn"] == 900
    assert session["user"]["email"] == EMAIL and session["user"]["tier"] == "FREE"
    me = (await api.gql(ME, session["accessToken"]))["data"]["me"]
    assert me["handle"] == "ana"
    # The default tiers take nothing from a self-hosted instance's people.
    assert me["limits"] == {"maxOutputHeight": 2160, "privateVideos": True}
    assert (await api.gql(ME)) == {"data": {"me": None}}
    assert codes(await api.gql(ME, "not-a-token")) == ["UNAUTHENTICATED"]
    assert codes(await api.gql(ME, session["refreshToken"])) == ["UNAUTHENTICATED"]


async def test_bad_input_is_bad_user_input(api: Api) -> None:
    body = await api.gql(REQUEST, phone="0415 555 0123")
    assert codes(body) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["extensions"]["field"] == "phone"


async def test_sixth_wrong_try_is_refused(api: Api) -> None:
    await api.gql(REQUEST, email=EMAIL)
    code = api.code()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert codes(await api.gql(VERIFY, email=EMAIL, code=wrong)) == ["UNAUTHENTICATED"]
    body = await api.gql(VERIFY, email=EMAIL, code=code)
    assert codes(body) == ["RATE_LIMITED"]
    assert body["data"] == {"verifyOtp": None}


async def test_brute_force_through_aliases_in_one_request_is_refused(api: Api) -> None:
    await api.gql(REQUEST, email=EMAIL)
    code = api.code()
    guesses = [f"{(int(code) + n) % 1_000_000:06d}" for n in range(1, 8)] + [code]
    fields = "\n".join(
        f'g{i}: verifyOtp(email: "{EMAIL}", code: "{g}") {{ accessToken }}'
        for i, g in enumerate(guesses)
    )
    body = await api.gql(f"mutation {{ {fields} }}")
    # Every alias was an attempt: five wrong, then refused, the right code included.
    assert codes(body) == ["UNAUTHENTICATED"] * 5 + ["RATE_LIMITED"] * 3
    assert all(value is None for value in body["data"].values())
    # Too many aliases never reach a resolver at all.
    many = "\n".join(f'a{i}: requestOtp(email: "x{i}@example.com")' for i in range(40))
    body = await api.gql(f"mutation {{ {many} }}")
    assert "aliases" in body["errors"][0]["message"] and body.get("data") is None
    # Batched operations (a JSON list) are not accepted.
    response = await api.client.post("/graphql", json=[{"query": ME}, {"query": ME}])
    assert response.status_code == 400


async def test_reused_and_expired_codes_are_refused(api: Api, clock: FakeClock) -> None:
    await api.gql(REQUEST, email=EMAIL)
    code = api.code()
    assert (await api.gql(VERIFY, email=EMAIL, code=code))["data"]["verifyOtp"]
    assert codes(await api.gql(VERIFY, email=EMAIL, code=code)) == ["UNAUTHENTICATED"]
    await api.gql(REQUEST, email=EMAIL)
    clock.advance(10 * 60 + 1)
    assert codes(await api.gql(VERIFY, email=EMAIL, code=api.code())) == ["UNAUTHENTICATED"]


async def test_reused_refresh_token_revokes_the_family(api: Api, clock: FakeClock) -> None:
    first = await api.sign_in()
    second = (await api.gql(REFRESH, refresh=first["refreshToken"]))["data"]["refreshSession"]
    assert (await api.gql(ME, second["accessToken"]))["data"]["me"]
    clock.advance(60)  # past the grace window for a retried refresh
    assert codes(await api.gql(REFRESH, refresh=first["refreshToken"])) == ["UNAUTHENTICATED"]
    assert codes(await api.gql(ME, second["accessToken"])) == ["UNAUTHENTICATED"]
    assert codes(await api.gql(REFRESH, refresh=second["refreshToken"])) == ["UNAUTHENTICATED"]


async def test_logout_and_logout_everywhere(api: Api) -> None:
    one, two = await api.sign_in(), await api.sign_in()
    logout = "mutation($all: Boolean!) { logout(everywhere: $all) }"
    assert (await api.gql(logout, one["accessToken"], all=False))["data"]["logout"] is True
    assert codes(await api.gql(ME, one["accessToken"])) == ["UNAUTHENTICATED"]
    assert (await api.gql(ME, two["accessToken"]))["data"]["me"]
    assert (await api.gql(logout, two["accessToken"], all=True))["data"]["logout"] is True
    assert codes(await api.gql(ME, two["accessToken"])) == ["UNAUTHENTICATED"]
    assert codes(await api.gql(logout, all=False)) == ["UNAUTHENTICATED"]


async def test_password_login_and_profile(api: Api) -> None:
    session = await api.sign_in()
    token = session["accessToken"]
    set_password = 'mutation { setPassword(password: "a long passphrase") }'
    assert (await api.gql(set_password, token))["data"]["setPassword"] is True
    login = "mutation($p: String!) { login(identifier: $i, password: $p) { accessToken } }"
    login = login.replace("mutation($p", "mutation($i: String!, $p")
    assert (await api.gql(login, i=EMAIL, p="a long passphrase"))["data"]["login"]
    assert codes(await api.gql(login, i=EMAIL, p="wrong passphrase")) == ["UNAUTHENTICATED"]

    image = io.BytesIO()
    Image.new("RGB", (300, 200), "navy").save(image, "PNG")
    update_profile = """mutation($input: ProfileInput!) {
      updateProfile(input: $input) { handle displayName avatarKey }
    }"""
    avatar = base64.b64encode(image.getvalue()).decode()
    body = await api.gql(
        update_profile,
        token,
        input={"handle": "ana_b", "displayName": "Ana", "avatarBase64": avatar},
    )
    profile = body["data"]["updateProfile"]
    assert profile["handle"] == "ana_b" and profile["avatarKey"].endswith(".jpg")
    body = await api.gql(
        update_profile, token, input={"avatarBase64": base64.b64encode(b"%PDF-1.7").decode()}
    )
    assert codes(body) == ["BAD_USER_INPUT"]


async def test_admin_suspends_and_the_token_stops_at_once(api: Api) -> None:
    admin = await api.sign_in("admin@example.com")
    member = await api.sign_in()
    suspend = "mutation($id: ID!) { suspendUser(userId: $id) { suspended } }"
    set_tier = "mutation($id: ID!) { setUserTier(userId: $id, tier: PRO) { tier } }"
    member_id = member["user"]["id"]
    # The instance's first account is its admin; the next one is not.
    assert (admin["user"]["role"], member["user"]["role"]) == ("ADMIN", "USER")
    assert codes(await api.gql(suspend, member["accessToken"], id=member_id)) == ["FORBIDDEN"]
    body = await api.gql(set_tier, admin["accessToken"], id=member_id)
    assert body["data"]["setUserTier"]["tier"] == "PRO"
    assert (await api.gql(ME, member["accessToken"]))["data"]["me"]["tier"] == "PRO"
    body = await api.gql(suspend, admin["accessToken"], id=member_id)
    assert body["data"]["suspendUser"]["suspended"] is True
    # The member's access token is still unexpired; the very next request is refused.
    assert codes(await api.gql(ME, member["accessToken"])) == ["FORBIDDEN"]
    assert codes(await api.gql(REFRESH, refresh=member["refreshToken"])) == ["FORBIDDEN"]
