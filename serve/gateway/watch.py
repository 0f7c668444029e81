"""The `/watch/{id}` page: hls.js, quality selection, the poster and storyboard previews.

hls.js is not in this repository: `vidray assets` (and `vidray up`, when it is missing)
installs a pinned version from the npm registry into `<data dir>/web/`, which git
ignores, and the gateway serves it at `/assets/hls.min.js`. Browsers with native HLS
(Safari) play without it.
"""

from __future__ import annotations

import html
import json
import shutil
import subprocess
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from cluster.errors import VideoUnavailable
from serve.stream import Playback, Stream

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


def create_router(stream: Stream, *, assets_dir: Path) -> APIRouter:
    """`/watch/{video_id}` and `/assets/hls.min.js`."""
    router = APIRouter()

    @router.get("/watch/{video_id}", response_class=HTMLResponse)
    async def watch(video_id: str, request: Request) -> Response:
        ip = request.client.host if request.client else None
        try:
            # Anonymous: the page has no session; private videos play from a URL that
            # the owner's client signs through the API.
            playback = await run_in_threadpool(
                stream.playback, video_id=video_id, viewer_id=None, ip=ip
            )
        except VideoUnavailable as exc:
            return PlainTextResponse(str(exc), status_code=404)
        return HTMLResponse(
            render_watch_page(playback), headers={"cache-control": "private, no-store"}
        )

    @router.get("/assets/hls.min.js")
    async def hls_js() -> Response:
        path = hls_js_path(assets_dir)
        if not path.is_file():
            return PlainTextResponse(
                "hls.js is not installed: run `vidray assets`", status_code=404
            )
        return FileResponse(
            path, media_type="text/javascript", headers={"cache-control": "public, max-age=3600"}
        )

    return router


def render_watch_page(playback: Playback) -> str:
    """The player page for one signed playback."""
    config = json.dumps(
        {
            "master": playback.master_url,
            "storyboard": playback.storyboard_url,
            "expiresAt": playback.expires_at,
        }
    ).replace("</", "<\\/")  # no `</script>` can end the script early
    poster = f' poster="{html.escape(playback.poster_url)}"' if playback.poster_url else ""
    return _PAGE.format(
        title=html.escape(playback.title or playback.video_id),
        poster=poster,
        config=config,
    )


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · vidray</title>
<style>
  body {{ margin: 0; font: 15px system-ui, sans-serif; background: #111; color: #eee; }}
  main {{ max-width: 960px; margin: 2rem auto; padding: 0 1rem; }}
  video {{ width: 100%; background: #000; aspect-ratio: 16 / 9; }}
  .bar {{ display: flex; gap: 1rem; align-items: center; margin-top: .5rem; }}
  #seek {{ flex: 1; }}
  #preview {{ position: absolute; display: none; border: 2px solid #eee;
              background-repeat: no-repeat; pointer-events: none; }}
  #status {{ color: #f88; }}
</style>
</head>
<body>
<main>
  <h1>{title}</h1>
  <video id="player" controls playsinline preload="metadata" crossorigin="anonymous"{poster}>
  </video>
  <div class="bar">
    <input id="seek" type="range" min="0" max="1000" value="0" aria-label="Seek">
    <label>Quality <select id="quality"><option value="-1">Auto</option></select></label>
  </div>
  <div id="preview"></div>
  <p id="status" role="status"></p>
</main>
<script src="/assets/hls.min.js"></script>
<script>
"use strict";
const config = {config};
const video = document.getElementById("player");
const quality = document.getElementById("quality");
const seek = document.getElementById("seek");
const preview = document.getElementById("preview");
const status = document.getElementById("status");
// Read by tests and by anyone debugging playback from the console.
window.vidray = {{ errors: [], levels: [] }};

function fail(message) {{
  window.vidray.errors.push(message);
  status.textContent = message;
}}

if (window.Hls && Hls.isSupported()) {{
  const hls = new Hls({{ capLevelToPlayerSize: true }});
  hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {{
    window.vidray.levels = data.levels.map((l) => l.height);
    data.levels.forEach((level, index) => {{
      const option = new Option(`${{level.height}}p`, String(index));
      quality.add(option);
    }});
  }});
  hls.on(Hls.Events.ERROR, (_, data) => {{
    if (data.fatal) fail(`playback failed: ${{data.type}} ${{data.details}}`);
  }});
  quality.addEventListener("change", () => {{ hls.currentLevel = Number(quality.value); }});
  hls.loadSource(config.master);
  hls.attachMedia(video);
}} else if (video.canPlayType("application/vnd.apple.mpegurl")) {{
  video.src = config.master;  // Safari plays HLS itself and picks the quality
  quality.disabled = true;
}} else {{
  fail("this browser cannot play HLS: the player script did not load (run `vidray assets`)");
}}
video.addEventListener("error", () => fail("the video element reported an error"));

// The seek bar follows playback and seeks; hovering shows the storyboard tile.
video.addEventListener("timeupdate", () => {{
  if (video.duration) seek.value = String(1000 * video.currentTime / video.duration);
}});
seek.addEventListener("input", () => {{
  if (video.duration) video.currentTime = video.duration * Number(seek.value) / 1000;
}});

function vttTime(text) {{
  const parts = text.trim().split(":").map(Number);
  return parts.reduce((total, part) => total * 60 + part, 0);
}}

async function loadStoryboard(url) {{
  const response = await fetch(url);
  if (!response.ok) return [];
  const cues = [];
  for (const block of (await response.text()).split(/\\n\\s*\\n/)) {{
    const lines = block.trim().split("\\n");
    const timing = lines.findIndex((line) => line.includes("-->"));
    if (timing < 0 || !lines[timing + 1]) continue;
    const [start, end] = lines[timing].split("-->").map(vttTime);
    const target = new URL(lines[timing + 1].trim(), new URL(url, location.href));
    const [x, y, w, h] = target.hash.replace("#xywh=", "").split(",").map(Number);
    target.hash = "";
    cues.push({{ start, end, image: target.href, x, y, w, h }});
  }}
  return cues;
}}

if (config.storyboard) {{
  loadStoryboard(config.storyboard).then((cues) => {{
    window.vidray.storyboard = cues.length;
    seek.addEventListener("mousemove", (event) => {{
      const box = seek.getBoundingClientRect();
      const t = video.duration * (event.clientX - box.left) / box.width;
      const cue = cues.find((c) => t >= c.start && t < c.end);
      if (!cue) {{ preview.style.display = "none"; return; }}
      Object.assign(preview.style, {{
        display: "block",
        width: `${{cue.w}}px`,
        height: `${{cue.h}}px`,
        left: `${{event.pageX - cue.w / 2}}px`,
        top: `${{box.top + window.scrollY - cue.h - 8}}px`,
        backgroundImage: `url("${{cue.image}}")`,
        backgroundPosition: `-${{cue.x}}px -${{cue.y}}px`,
      }});
    }});
    seek.addEventListener("mouseleave", () => {{ preview.style.display = "none"; }});
  }}, () => {{}});
}}
</script>
</body>
</html>
"""
