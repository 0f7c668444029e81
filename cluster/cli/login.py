"""`vidray login` and `vidray logout`: a sign-in kept between commands, and
`signed_in()`, which every command that needs an access token asks for one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import typer

from cluster.api_client import Api, ApiError
from cluster.cli.console import clear_errors, console, err_console, read_settings
from cluster.credentials import Credentials, CredentialStore, NotSignedIn, fresh_access_token

SERVER_HELP = "vidray's URL (default: this machine's VIDRAY_HTTP_PORT)."


def default_server() -> str:
    settings = read_settings()
    return f"http://{settings.http_host}:{settings.http_port}"


@dataclass(frozen=True, slots=True)
class SignedIn:
    server: str
    token: str


def signed_in(*, server: str | None, token: str | None) -> SignedIn:
    """The server and access token a command uses: `--token` (or VIDRAY_TOKEN) if
    given, else the stored sign-in (refreshed when due), else one error line."""
    if token:
        return SignedIn(server=(server or default_server()).rstrip("/"), token=token)
    with clear_errors():
        saved, access = fresh_access_token(CredentialStore())
    if server is not None and server.rstrip("/") != saved.server:
        with clear_errors():
            raise NotSignedIn(
                f"you are signed in to {saved.server}, not {server}: "
                f"run `vidray login --server {server}`, or pass --token"
            )
    return SignedIn(server=saved.server, token=access)


def login(
    account: Annotated[
        str, typer.Argument(help="Your email address, or phone number (E.164: +14155550123).")
    ],
    server: Annotated[str | None, typer.Option(help=SERVER_HELP)] = None,
) -> None:
    """Sign in with a code sent to ACCOUNT and stay signed in on this machine.

    The code comes by email or SMS (in dev mode: a file in the data dir's outbox/).
    The refresh token is kept in $XDG_CONFIG_HOME/vidray/credentials.json (else
    ~/.config/vidray), readable by you only; `vidray logout` ends the session."""
    api = Api(server or default_server())
    store = CredentialStore()
    with clear_errors():
        api.request_otp(account)
    err_console.print(f"a sign-in code was sent to {account}")
    code = typer.prompt("code", err=True)
    with clear_errors():
        tokens = api.verify_otp(account, code)
        store.save(Credentials.of(server=api.server, account=account, tokens=tokens))
    console.print(f"[bold green]signed in[/] to {api.server} as {account}")
    err_console.print(f"[dim]kept in {store.path}[/]", highlight=False)


def logout() -> None:
    """End the stored session on its server and delete the credentials file."""
    store = CredentialStore()
    with clear_errors():
        saved = store.load()
    if saved is None:
        console.print("not signed in")
        return
    try:
        _, access = fresh_access_token(store)
        Api(saved.server, token=access).logout()
    except NotSignedIn:
        pass  # the session had ended already: nothing to revoke
    except ApiError as exc:
        # The file goes anyway: the person asked to be signed out of this machine.
        err_console.print(
            f"[yellow]warning:[/] could not end the session on {saved.server} ({exc}); "
            "it expires by itself",
            highlight=False,
        )
    store.delete()
    console.print(f"signed out of {saved.server}")
