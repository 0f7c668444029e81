"""Browser libraries from npm, installed into the data dir and served by the gateway.

None of them is in this repository: `vidray assets` (and `vidray up`, when one is
missing) installs pinned versions from the npm registry into `<data dir>/web/`, which
git ignores, and the gateway serves each file at `/assets/{name}`, so no page loads a
script from another host:

- hls.js, for the watch page (browsers with native HLS, Safari, play without it);
- tus-js-client, for `/upload` and `/record` (resumable uploads to the upload edge);
- axe-core, which the accessibility tests inject into every page (served like the
  rest so the tests need no other host);
- GraphiQL and the React it runs on, for `GET /graphql` in dev mode (strawberry's own
  page loads them from unpkg.com, so it never loads without internet);
- Chart.js, for the creator stats that `/static/stats.js` draws in `/studio`.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

# One npm call installs all of them: `npm install --no-save` prunes what an earlier call
# installed, so installing one package alone could remove another. graphql is
# GraphiQL's peer dependency, pinned so the tree is the same everywhere.
PACKAGES = (
    "hls.js@~1.7.4",
    "graphiql@3.8.3",
    "react@18.2.0",
    "react-dom@18.2.0",
    "graphql@16.15.0",
    "tus-js-client@~4.3.1",
    "axe-core@~4.14.1",
    "chart.js@~4.6.1",
)


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of an npm package that a page loads."""

    package: str
    path: str  # inside node_modules/{package}/
    media_type: str = "text/javascript"


ASSETS: dict[str, Asset] = {
    "hls.min.js": Asset("hls.js", "dist/hls.min.js"),
    "graphiql/react.production.min.js": Asset("react", "umd/react.production.min.js"),
    "graphiql/react-dom.production.min.js": Asset("react-dom", "umd/react-dom.production.min.js"),
    "graphiql/graphiql.min.js": Asset("graphiql", "graphiql.min.js"),
    "graphiql/graphiql.min.css": Asset("graphiql", "graphiql.min.css", "text/css"),
    "tus.min.js": Asset("tus-js-client", "dist/tus.min.js"),
    "axe.min.js": Asset("axe-core", "axe.min.js"),
    "chart.umd.min.js": Asset("chart.js", "dist/chart.umd.min.js"),
}


def asset_path(assets_dir: Path, name: str) -> Path:
    """Where the file served at `/assets/{name}` lies once installed."""
    asset = ASSETS[name]
    return assets_dir / "node_modules" / asset.package / asset.path


def missing_assets(assets_dir: Path) -> list[str]:
    """The names of the assets not installed in `assets_dir`."""
    return [name for name in ASSETS if not asset_path(assets_dir, name).is_file()]


def install_assets(assets_dir: Path) -> list[Path]:
    """Install every package from npm into `assets_dir` unless all files are there;
    returns the files' paths."""
    if missing_assets(assets_dir):
        npm = shutil.which("npm")
        if npm is None:
            raise FileNotFoundError(
                "npm is not installed: install Node.js (apt-get install npm), then run "
                "`vidray assets`; until then only browsers with native HLS can play, "
                "and GraphiQL does not load"
            )
        assets_dir.mkdir(parents=True, exist_ok=True)
        flags = ["--no-save", "--no-audit", "--no-fund", "--prefix", str(assets_dir)]
        subprocess.run(
            [npm, "install", *flags, *PACKAGES],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return [asset_path(assets_dir, name) for name in ASSETS]
