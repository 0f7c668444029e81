"""The sign-in `vidray login` keeps: one server, its refresh token and the latest
access token, in `$XDG_CONFIG_HOME/vidray/credentials.json` (else ~/.config/vidray).

The file holds a live session, so it is written owner-only (0600, in a 0700 folder),
and replaced whole (write, then rename) so a crash never leaves half a token. A refresh
spends the refresh token (the server rotates it): the new one is saved before the
access token is used.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from cluster.api_client import Api, ApiError, Tokens
from cluster.errors import VidrayError

# An access token this close to its expiry is refreshed first: a long upload must not
# see it lapse between two requests.
REFRESH_MARGIN_S = 60.0


class NotSignedIn(VidrayError):
    """No usable stored sign-in: the message says to run `vidray login`."""


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/vidray`, or `~/.config/vidray` (XDG base directory spec)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME", "")
    # The spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".config"
    return root / "vidray"


@dataclass(frozen=True, slots=True)
class Credentials:
    server: str
    account: str
    refresh_token: str
    access_token: str
    expires_at: float  # epoch seconds

    @classmethod
    def of(cls, *, server: str, account: str, tokens: Tokens) -> Credentials:
        return cls(
            server=server.rstrip("/"),
            account=account,
            refresh_token=tokens.refresh_token,
            access_token=tokens.access_token,
            expires_at=tokens.expires_at,
        )


class CredentialStore:
    """Reads and writes the one credentials file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / "credentials.json"

    def load(self) -> Credentials | None:
        try:
            data = json.loads(self.path.read_text())
            return Credentials(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError):
            raise NotSignedIn(
                f"{self.path} is unreadable or damaged: delete it and run `vidray login`"
            ) from None

    def save(self, credentials: Credentials) -> None:
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.chmod(0o700)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        # Created 0600 from the start: no moment where another user could read it.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(asdict(credentials), fh, indent=1)
        tmp.replace(self.path)

    def delete(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


def fresh_access_token(
    store: CredentialStore,
    *,
    api: Api | None = None,
    now: Callable[[], float] = time.time,
) -> tuple[Credentials, str]:
    """The stored sign-in and an access token good for a while, refreshed (and the
    rotated refresh token saved) when the stored one is about to expire."""
    saved = store.load()
    if saved is None:
        raise NotSignedIn(
            "not signed in: run `vidray login you@example.com`, or pass --token / set VIDRAY_TOKEN"
        )
    if saved.expires_at - now() > REFRESH_MARGIN_S:
        return saved, saved.access_token
    api = api or Api(saved.server)
    try:
        tokens = api.refresh(saved.refresh_token)
    except ApiError as exc:
        if exc.code != "UNAUTHENTICATED":
            raise
        store.delete()  # spent, revoked or expired: it can never work again
        raise NotSignedIn(
            f"your sign-in to {saved.server} has ended ({exc}): run `vidray login` again"
        ) from None
    fresh = Credentials.of(server=saved.server, account=saved.account, tokens=tokens)
    store.save(fresh)
    return fresh, fresh.access_token
