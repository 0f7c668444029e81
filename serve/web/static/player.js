// The watch page's player: hls.js (or native HLS), a quality menu, storyboard previews.
import { startBeacons } from "./beacons.js";
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

// Loads `url` again from where the viewer is (playing or paused as before): used when a
// video still transcoding has published more rungs than its master first listed.
let reload = null;

if (window.Hls && Hls.isSupported()) {
  const hls = new Hls({ capLevelToPlayerSize: true });
  window.vidray.hls = hls;
  hls.on(Hls.Events.MANIFEST_PARSED, (_, data) => {
    window.vidray.levels = data.levels.map((l) => l.height);
    quality.length = 1;  // keep "Auto"; the rungs may have changed since the last parse
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
  reload = (url) => {
    const [time, paused] = [video.currentTime, video.paused];
    hls.config.startPosition = time;
    hls.loadSource(url);
    hls.once(Hls.Events.MANIFEST_PARSED, () => {
      video.currentTime = time;
      if (!paused) video.play().catch(() => {});
    });
  };
} else if (video.canPlayType("application/vnd.apple.mpegurl")) {
  video.src = config.master;  // Safari plays HLS itself and picks the quality
  quality.disabled = true;
  reload = (url) => {
    const [time, paused] = [video.currentTime, video.paused];
    video.src = url;
    video.addEventListener("loadedmetadata", () => {
      video.currentTime = time;
      if (!paused) video.play().catch(() => {});
    }, { once: true });
  };
} else {
  fail("this browser cannot play HLS: the player script did not load (run `vidray assets`)");
}

// While the video is processing, its master lists only the rungs done so far (the lowest
// comes first, so it plays early). Ask for a fresh signed master every few seconds until
// it lists more rungs or the video is ready, then load it again: a viewer who came early
// gets the whole ladder without reloading the page.
const LADDER_POLL_MS = 3000;

function rungsIn(master) {
  return master.split("\n").filter((line) => line.startsWith("#EXT-X-STREAM-INF")).length;
}

async function rungsAt(url) {
  const master = await fetch(url, { cache: "no-store" });
  return master.ok ? rungsIn(await master.text()) : 0;
}

async function followLadder() {
  let listed = await rungsAt(config.master).catch(() => 0);
  while (config.processing) {
    await new Promise((resolve) => setTimeout(resolve, LADDER_POLL_MS));
    try {
      const answer = await fetch(`/watch/${encodeURIComponent(config.video)}/playback`,
                                 { cache: "no-store" });
      if (!answer.ok) continue;
      const fresh = await answer.json();
      const rungs = await rungsAt(fresh.master);
      config.processing = fresh.processing;
      if (rungs > listed) {
        listed = rungs;
        Object.assign(config, fresh);
        reload(fresh.master);
      }
    } catch {
      // A network blip or a restart: ask again at the next tick.
    }
  }
}

if (reload && config.processing) followLadder();
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

window.vidray.beacons = startBeacons({ video, videoId: config.video, hls: window.vidray.hls });
