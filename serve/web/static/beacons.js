// Playback beacons (Mux Data's event names) from a <video> element, and hls.js when
// given, batched to POST /collect every 10 s and on pagehide (navigator.sendBeacon).
// A batch the server could not store (503, network error) is kept and sent again with
// the same event ids: the server counts each event once.

const MAX_EVENTS = 300;

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID().replaceAll("-", "");
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function startBeacons({ video, videoId, hls = null, endpoint = "/collect",
                               intervalMs = 10000 }) {
  const viewId = newId();
  let seq = 0;
  let queue = [];
  let lastPlayhead = 0;  // where the playhead was before a seek moved it
  let rebuffering = false;
  let seeking = false;
  let ended = false;

  function push(event, extra = {}) {
    if (ended) return;
    const at = extra.playhead ?? video.currentTime;
    queue.push({
      event_id: newId(),
      view_id: viewId,
      seq: seq++,
      event,
      video_id: videoId,
      playhead_ms: Math.max(0, Math.round(at * 1000)),
      viewer_time: Date.now(),
      duration_ms: Number.isFinite(video.duration) ? Math.round(video.duration * 1000)
                                                    : undefined,
      rendition: video.videoHeight ? `${video.videoHeight}p` : undefined,
      player_width: Math.round(video.clientWidth),
      player_height: Math.round(video.clientHeight),
      error_code: extra.errorCode,
      fatal: extra.fatal,
    });
    if (event === "viewend") ended = true;
  }

  function send(unloading) {
    while (queue.length) {
      const batch = queue.splice(0, MAX_EVENTS);
      const body = JSON.stringify({ sent_at: Date.now(), events: batch });
      // text/plain: a "simple" request, with no CORS preflight, as sendBeacon sends it.
      if (unloading && navigator.sendBeacon &&
          navigator.sendBeacon(endpoint, new Blob([body], { type: "text/plain" }))) {
        continue;
      }
      fetch(endpoint, { method: "POST", body, keepalive: true,
                        headers: { "content-type": "text/plain" } })
        .then((reply) => { if (reply.status >= 500 || reply.status === 429) throw reply; })
        .catch(() => { queue = batch.concat(queue); });
      if (!unloading) break;  // one batch in flight per tick; the rest wait
    }
  }

  push("viewstart");
  video.addEventListener("play", () => push("play"));
  video.addEventListener("playing", () => {
    if (rebuffering) { rebuffering = false; push("rebufferend"); }
    push("playing");
  });
  video.addEventListener("pause", () => { if (!video.ended) push("pause"); });
  video.addEventListener("ended", () => push("pause"));
  video.addEventListener("timeupdate", () => { if (!seeking) lastPlayhead = video.currentTime; });
  video.addEventListener("seeking", () => {
    seeking = true;
    push("seeking", { playhead: lastPlayhead });
  });
  video.addEventListener("seeked", () => {
    seeking = false;
    lastPlayhead = video.currentTime;
    push("seeked");
    if (!video.paused) push("playing");
    else push("pause");  // a seek while paused: the time after it is not watch time
  });
  video.addEventListener("waiting", () => {
    if (!seeking && !rebuffering && !video.paused) { rebuffering = true; push("rebufferstart"); }
  });
  video.addEventListener("resize", () => push("renditionchange"));
  video.addEventListener("error", () => {
    push("error", { errorCode: `MEDIA_ERR_${video.error ? video.error.code : 0}`, fatal: true });
  });
  if (hls && window.Hls) {
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) push("error", { errorCode: String(data.details).slice(0, 64), fatal: true });
    });
  }

  const timer = setInterval(() => {
    if (!video.paused && !seeking) push("heartbeat");
    send(false);
  }, intervalMs);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") send(true);
  });
  window.addEventListener("pagehide", () => {
    push("viewend");
    clearInterval(timer);
    send(true);
  });

  // For tests and debugging: flush now, or end the view as leaving the page would.
  return {
    viewId,
    flush: () => { if (!video.paused && !seeking) push("heartbeat"); send(false); },
    end: () => { push("viewend"); clearInterval(timer); send(false); },
  };
}
