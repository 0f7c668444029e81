"""Real browser recordings: what a viewer's "record" button uploads.

Chromium's MediaRecorder writes a live WebM: no duration in the header, no cues, and
timestamps that need not start at 0. Test files made by FFmpeg or PyAV never look like
that, so tests that care record one in the browser itself. No camera or microphone is
needed: the page records an animated <canvas> (captureStream) and a WebAudio oscillator.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser

_RECORD = """
async ({seconds, mimeType, width, height}) => {
  const canvas = document.createElement('canvas');
  canvas.width = width; canvas.height = height;
  document.body.appendChild(canvas);
  const g = canvas.getContext('2d');
  let frame = 0, drawing = true;
  const draw = () => {
    // Something that changes every frame, so the encoder emits every frame.
    g.fillStyle = `hsl(${(frame * 7) % 360}, 70%, 50%)`;
    g.fillRect(0, 0, width, height);
    g.fillStyle = '#fff';
    g.fillRect((frame * 5) % (width - 20), height / 3, 20, height / 3);
    frame += 1;
    if (drawing) requestAnimationFrame(draw);
  };
  draw();
  const audio = new AudioContext();
  const tone = audio.createOscillator();
  const sink = audio.createMediaStreamDestination();
  tone.connect(sink);
  tone.start();
  const stream = new MediaStream([
    ...canvas.captureStream(30).getVideoTracks(),
    ...sink.stream.getAudioTracks(),
  ]);
  const recorder = new MediaRecorder(stream, {mimeType});
  const parts = [];
  recorder.ondataavailable = (e) => { if (e.data.size) parts.push(e.data); };
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  recorder.start(500);  // timeslices, as recording web apps do
  const began = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  recorder.stop();
  await stopped;
  const elapsed = (performance.now() - began) / 1000;
  drawing = false;
  tone.stop();
  await audio.close();
  const bytes = new Uint8Array(await new Blob(parts).arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return {data: btoa(binary), elapsed, mimeType: recorder.mimeType};
}
"""


@dataclass(frozen=True)
class Recording:
    data: bytes  # the WebM exactly as MediaRecorder wrote it
    elapsed: float  # seconds between start() and stop(), as the page measured them
    mime_type: str


def record_webm(
    browser: Browser,
    *,
    seconds: float = 3.0,
    width: int = 320,
    height: int = 240,
    mime_type: str = "video/webm;codecs=vp8,opus",
) -> Recording:
    """Record `seconds` of `width`x`height` canvas video and an oscillator tone with
    MediaRecorder, as a browser recording app would upload it."""
    context = browser.new_context()
    try:
        page = context.new_page()
        # AudioContext needs a document; about:blank is one, with no server involved.
        page.goto("about:blank")
        result = page.evaluate(
            _RECORD, {"seconds": seconds, "mimeType": mime_type, "width": width, "height": height}
        )
    finally:
        context.close()
    return Recording(
        data=base64.b64decode(result["data"]),
        elapsed=float(result["elapsed"]),
        mime_type=str(result["mimeType"]),
    )
