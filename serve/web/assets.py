"""Browser libraries from npm, installed into the data dir and served by the gateway.

hls.js is not in this repository: `vidray assets` (and `vidray up`, when it is missing)
installs a pinned version from the npm registry into `<data dir>/web/`, which git
ignores, and the gateway serves it at `/assets/hls.min.js`. Browsers with native HLS
(Safari) play without it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HLS_JS_PACKAGE = "hls.js@~1.7.4"
HLS_JS_FILE = Path("node_modules/hls.js/dist/hls.min.js")


def hls_js_path(assets_dir: Path) -> Path:
    return assets_dir / HLS_JS_FILE


def install_hls_js(assets_dir: Path) -> Path:
    """Install hls.js from npm into `assets_dir` (once); returns the script's path."""
    target = hls_js_path(assets_dir)
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError(
            "npm is not installed: install Node.js (apt-get install npm), then run "
            "`vidray assets`; until then only browsers with native HLS can play"
        )
    assets_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            npm,
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(assets_dir),
            HLS_JS_PACKAGE,
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target
