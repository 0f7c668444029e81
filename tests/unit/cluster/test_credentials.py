"""The stored sign-in of `vidray login`: where it lives, who may read it, and what a
command is told when there is none."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from cluster.api_client import Api, Tokens, account_fields
from cluster.credentials import (
    Credentials,
    CredentialStore,
    NotSignedIn,
    config_dir,
    fresh_access_token,
)
from tests.support.servers import free_port


def _credentials(*, expires_at: float) -> Credentials:
    tokens = Tokens(access_token="access", refresh_token="refresh", expires_at=expires_at)
    return Credentials.of(server="http://vidray.test/", account="ana@example.com", tokens=tokens)


def test_the_folder_follows_xdg_config_home(tmp_path: Path) -> None:
    assert config_dir({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "vidray"
    # Unset, empty or relative (which the spec says to ignore): ~/.config.
    for env in ({}, {"XDG_CONFIG_HOME": ""}, {"XDG_CONFIG_HOME": "relative/dir"}):
        assert config_dir(env) == Path.home() / ".config" / "vidray"


def test_the_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "config" / "vidray" / "credentials.json")
    store.save(_credentials(expires_at=2e9))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    loaded = store.load()
    assert loaded is not None
    assert loaded.server == "http://vidray.test"  # kept without the trailing slash
    assert loaded.refresh_token == "refresh"
    # Saved again (a refresh), it is still owner-only and nothing else is left beside it.
    store.save(_credentials(expires_at=3e9))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert [p.name for p in store.path.parent.iterdir()] == ["credentials.json"]
    assert store.delete() is True
    assert store.load() is None and store.delete() is False


def test_a_damaged_file_says_to_sign_in_again(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    store.path.write_text("{not json")
    with pytest.raises(NotSignedIn, match="vidray login"):
        store.load()


def test_no_sign_in_says_to_run_vidray_login(tmp_path: Path) -> None:
    with pytest.raises(NotSignedIn, match=r"run `vidray login .*--token / set VIDRAY_TOKEN"):
        fresh_access_token(CredentialStore(tmp_path / "credentials.json"))


def test_an_access_token_far_from_expiry_is_used_without_asking_the_server(
    tmp_path: Path,
) -> None:
    store = CredentialStore(tmp_path / "credentials.json")
    store.save(_credentials(expires_at=1000.0))
    nowhere = Api(f"http://127.0.0.1:{free_port()}")  # a refresh would fail to connect
    saved, token = fresh_access_token(store, api=nowhere, now=lambda: 1000.0 - 61)
    assert token == "access" and saved.account == "ana@example.com"


def test_an_account_with_an_at_sign_is_an_email_else_a_phone() -> None:
    assert account_fields(" ana@example.com ") == {"email": "ana@example.com"}
    assert account_fields("+14155550123") == {"phone": "+14155550123"}
