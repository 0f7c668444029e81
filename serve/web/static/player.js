// The watch page's player: hls.js (or native HLS), quality and captions menus, `?t=`
// deep links, storyboard previews, playback beacons. watch.js imports it for `video`
// and `seekTo`.
import { startBeacons } from "./beacons.js";
const config = JSON.parse(document.getElementById("playback").textContent);
export const video = document.getElementById("player");
const captions = document.getElementById("captions");
const quality = document.getElementById("quality");
const seek = document.getElementById("seek");
const preview = document.getElementById("preview");
const status = document.getElementById("status");
// Read by tests and by anyone debugging playback from the console.
window.vidray = { errors: [], levels: [], captions: [] };

// The server fills the page for strangers only. A private video (or one still being
// processed) plays for its owner from the URLs GraphQL signs for the signed-in viewer.
if (!config.master) {
  const { gql } = await import("/static/session.js");
  const query = `query($id: ID!) { video(id: $id) {
    playback { hlsUrl posterUrl storyboardVttUrl expiresAt } } }`;
  const data = await gql(query, { id: config.video }).catch(() => null);
  const playback = data && data.video && data.video.playback;
  if (playback) {
    Object.assign(config, { master: playback.hlsUrl, storyboard: playback.storyboardVttUrl,
                            expiresAt: playback.expiresAt });
    if (playback.posterUrl) video.poster = playback.posterUrl;
  }
}

/** `?t=90`, `?t=1m30s` or `?t=1:30`: where a shared link starts, in seconds. */
export function startAt(text) {
  if (!text) return 0;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text.includes(":")) return text.split(":").reduce((sum, part) => sum * 60 + Number(part), 0) || 0;
  const found = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  return found ? 3600 * (found[1] || 0) + 60 * (found[2] || 0) + Number(found[3] || 0) : 0;
}
const start = startAt(new URLSearchParams(location.search).get("t"));

/** Moves playback to `seconds` and plays (a click on a chapter or a timestamp). */
export function seekTo(seconds) {
  video.currentTime = seconds;
  video.play().catch(() => {});
}

function showCaptions(names, choose) {
  window.vidray.captions = names;
  captions.length = 1;  // keep "Off"
  names.forEach((name, index) => captions.add(new Option(name, String(index))));
  captions.closest("label").hidden = names.length === 0;
  captions.onchange = () => choose(Number(captions.value));
}

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

if (!config.master) {
  status.textContent = config.unavailable || "This video cannot be played.";
} else if (window.Hls && Hls.isSupported()) {
  const hls = new Hls({ capLevelToPlayerSize: true, startPosition: start || -1 });
  hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, (_, data) => {
    showCaptions(data.subtitleTracks.map((t) => t.name || t.lang || "Captions"), (index) => {
      hls.subtitleTrack = index;
      hls.subtitleDisplay = index >= 0;
    });
  });
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
  if (start) video.addEventListener("loadedmetadata", () => { video.currentTime = start; }, { once: true });
  video.textTracks.addEventListener("addtrack", () => {
    const tracks = [...video.textTracks];
    showCaptions(tracks.map((t) => t.label || t.language), (index) => {
      tracks.forEach((track, i) => { track.mode = i === index ? "showing" : "disabled"; });
    });
  });
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

// A video that cannot play sends nothing: there is no view to count.
if (config.master) window.vidray.beacons = startBeacons({ video, videoId: config.video, hls: window.vidray.hls });
