"""`vidray assets`: the web player's JavaScript, from npm into the data dir."""

from __future__ import annotations

import typer

from cluster.cli.console import console, err_console, read_settings
from cluster.config import Settings


def install_assets(settings: Settings) -> bool:
    """Fetch hls.js from npm into the data dir (git-ignored); a warning if it cannot."""
    import subprocess

    from serve.web.assets import HLS_JS_PACKAGE, install_hls_js

    try:
        with console.status(f"installing {HLS_JS_PACKAGE} from npm"):
            path = install_hls_js(settings.resolved_web_assets_dir)
    except (FileNotFoundError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        err_console.print(
            f"[yellow]warning:[/] the web player has no hls.js ({exc} {detail.decode()[-300:]}); "
            "only browsers with native HLS can play: fix npm, then run `vidray assets`",
            highlight=False,
        )
        return False
    console.print(f"hls.js ready: {path}")
    return True


def assets() -> None:
    """Install the web player's JavaScript (hls.js) from npm into the data dir."""
    if not install_assets(read_settings()):
        raise typer.Exit(1)
