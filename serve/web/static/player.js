// The watch page's player: hls.js (or native HLS), a quality menu, storyboard previews.
const config = JSON.parse(document.getElementById("playback").textContent);
const video = document.getElementById("player");
const quality = document.getElementById("quality");
const seek = document.getElementById("seek");
const preview = document.getElementById("preview");
const status = document.getElementById("status");
// Read by tests and by anyone debugging playback from the console.
window.vidray = { errors: [], levels: [] };

function showAudioOnly() {
  window.vidray.audioOnly = true;
  quality.closest("label").hidden = true;
  document.body.classList.add("audio-only");
}

function fail(message) {
  window.vidray.errors.push(message);
  status.textContent = message;
}

if (window.Hls && Hls.isSupported()) {
  const hls = new Hls({ capLevelToPlayerSize: true });
  hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
    window.vidray.levels = data.levels.map((l) => l.height);
    // Sound alone has levels with no picture (height 0): no quality to choose, and the
    // poster (its waveform) stays up while it plays.
    if (!data.levels.some((level) => level.height > 0)) {
      showAudioOnly();
      return;
    }
    data.levels.forEach((level, index) => {
      if (level.height > 0) quality.add(new Option(`${level.height}p`, String(index)));
    });
  });
  hls.on(Hls.Events.ERROR, (_, data) => {
    if (data.fatal) fail(`playback failed: ${data.type} ${data.details}`);
  });
  quality.addEventListener("change", () => { hls.currentLevel = Number(quality.value); });
  hls.loadSource(config.master);
  hls.attachMedia(video);
} else if (video.canPlayType("application/vnd.apple.mpegurl")) {
  video.src = config.master;  // Safari plays HLS itself and picks the quality
  quality.disabled = true;
} else {
  fail("this browser cannot play HLS: the player script did not load (run `vidray assets`)");
}
video.addEventListener("error", () => fail("the video element reported an error"));

// The seek bar follows playback and seeks; hovering shows the storyboard tile.
video.addEventListener("timeupdate", () => {
  if (video.duration) seek.value = String(1000 * video.currentTime / video.duration);
});
seek.addEventListener("input", () => {
  if (video.duration) video.currentTime = video.duration * Number(seek.value) / 1000;
});

function vttTime(text) {
  const parts = text.trim().split(":").map(Number);
  return parts.reduce((total, part) => total * 60 + part, 0);
}

async function loadStoryboard(url) {
  const response = await fetch(url);
  if (!response.ok) return [];
  const cues = [];
  for (const block of (await response.text()).split(/\n\s*\n/)) {
    const lines = block.trim().split("\n");
    const timing = lines.findIndex((line) => line.includes("-->"));
    if (timing < 0 || !lines[timing + 1]) continue;
    const [start, end] = lines[timing].split("-->").map(vttTime);
    const target = new URL(lines[timing + 1].trim(), new URL(url, location.href));
    const [x, y, w, h] = target.hash.replace("#xywh=", "").split(",").map(Number);
    target.hash = "";
    cues.push({ start, end, image: target.href, x, y, w, h });
  }
  return cues;
}

if (config.storyboard) {
  loadStoryboard(config.storyboard).then((cues) => {
    window.vidray.storyboard = cues.length;
    seek.addEventListener("mousemove", (event) => {
      const box = seek.getBoundingClientRect();
      const t = video.duration * (event.clientX - box.left) / box.width;
      const cue = cues.find((c) => t >= c.start && t < c.end);
      if (!cue) { preview.style.display = "none"; return; }
      Object.assign(preview.style, {
        display: "block",
        width: `${cue.w}px`,
        height: `${cue.h}px`,
        left: `${event.pageX - cue.w / 2}px`,
        top: `${box.top + window.scrollY - cue.h - 8}px`,
        backgroundImage: `url("${cue.image}")`,
        backgroundPosition: `-${cue.x}px -${cue.y}px`,
      });
    });
    seek.addEventListener("mouseleave", () => { preview.style.display = "none"; });
  }, () => {});
}
