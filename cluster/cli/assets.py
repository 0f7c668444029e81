"""`vidray assets`: the web pages' JavaScript, from npm into the data dir."""

from __future__ import annotations

import typer

from cluster.cli.console import console, err_console, read_settings
from cluster.config import Settings


def install_assets(settings: Settings) -> bool:
    """Fetch hls.js and GraphiQL from npm into the data dir (git-ignored); a warning if
    it cannot."""
    import subprocess

    from serve.web.assets import PACKAGES
    from serve.web.assets import install_assets as install_npm_assets

    try:
        with console.status(f"installing {', '.join(PACKAGES)} from npm"):
            install_npm_assets(settings.resolved_web_assets_dir)
    except (FileNotFoundError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        err_console.print(
            f"[yellow]warning:[/] the web pages have no hls.js or GraphiQL ({exc} "
            f"{detail.decode()[-300:]}); only browsers with native HLS can play and GraphiQL "
            "does not load: fix npm, then run `vidray assets`",
            highlight=False,
        )
        return False
    console.print(f"web assets ready: {settings.resolved_web_assets_dir}")
    return True


def assets() -> None:
    """Install the web pages' JavaScript (hls.js, GraphiQL) from npm into the data dir."""
    if not install_assets(read_settings()):
        raise typer.Exit(1)
