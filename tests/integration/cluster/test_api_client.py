"""`vidray login`'s sign-in against the real GraphQL gateway (uvicorn in a thread, on
SQLite and the embedded KV, with a fake clock): the code is traded for a session, a
due access token is refreshed and the rotated refresh token saved, and an ended
session is dropped from the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import db
from cluster.api_client import Api, ApiError
from cluster.config import Settings, load_settings
from cluster.credentials import Credentials, CredentialStore, NotSignedIn, fresh_access_token
from cluster.kv import EmbeddedKV
from serve.gateway.ingress import Gateway, create_app
from serve.platform import Platform
from tests.support.accounts import latest_code
from tests.support.clock import FakeClock
from tests.support.servers import free_port, serving

EMAIL = "ana@example.com"
ME = "{ me { email } }"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(data_dir=tmp_path / "data")


@pytest.fixture
def server(settings: Settings, clock: FakeClock) -> Iterator[str]:
    engine = db.make_engine(settings.resolved_database_url)
    db.migrate(engine)
    kv = EmbeddedKV(settings.data_dir / "kv.sqlite3", clock=clock)
    port = free_port()
    with serving(create_app(Gateway(Platform(settings, engine=engine, kv=kv, clock=clock))), port):
        yield f"http://127.0.0.1:{port}"
    engine.dispose()


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    return CredentialStore(tmp_path / "config" / "vidray" / "credentials.json")


def _login(server: str, settings: Settings, store: CredentialStore) -> Credentials:
    """What `vidray login` does, with the code from the dev outbox."""
    api = Api(server)
    api.request_otp(EMAIL)
    tokens = api.verify_otp(EMAIL, latest_code(settings.outbox_dir, EMAIL))
    saved = Credentials.of(server=server, account=EMAIL, tokens=tokens)
    store.save(saved)
    return saved


def _due(saved: Credentials) -> Credentials:
    return Credentials(
        server=saved.server,
        account=saved.account,
        refresh_token=saved.refresh_token,
        access_token=saved.access_token,
        expires_at=0.0,
    )


def test_a_due_access_token_is_refreshed_and_the_new_refresh_token_kept(
    server: str, settings: Settings, store: CredentialStore, clock: FakeClock
) -> None:
    first = _login(server, settings, store)
    assert Api(server, token=first.access_token).call(ME) == {"me": {"email": EMAIL}}

    store.save(_due(first))
    saved, token = fresh_access_token(store)
    assert token != first.access_token
    assert saved.refresh_token != first.refresh_token  # rotated, and saved
    assert store.load() == saved
    assert Api(server, token=token).call(ME) == {"me": {"email": EMAIL}}

    # The old refresh token is spent: past the grace for a lost response, presenting it
    # again is refused (and ends the sign-in), so keeping the new one mattered.
    clock.advance(settings.refresh_grace_s + 1)
    with pytest.raises(ApiError) as refused:
        Api(server).refresh(first.refresh_token)
    assert refused.value.code == "UNAUTHENTICATED"


def test_an_ended_session_is_dropped_and_says_to_log_in_again(
    server: str, settings: Settings, store: CredentialStore
) -> None:
    saved = _login(server, settings, store)
    Api(server, token=saved.access_token).logout()  # e.g. from another terminal
    store.save(_due(saved))
    with pytest.raises(NotSignedIn, match="run `vidray login` again"):
        fresh_access_token(store)
    assert not store.path.exists()
