// /record: the screen (getDisplayMedia) with a camera bubble drawn over it and the
// microphone, recorded to WebM by MediaRecorder and sent through tus WHILE recording,
// chunk by chunk, so little is left to upload when the user presses stop.
import { onUser } from "/static/session.js";
import { clock } from "/static/dom.js";
import { RETRY_DELAYS, copy, createVideo, followTranscode, watchUrl } from "/static/uploader.js";

const $ = (id) => document.getElementById(id);
const root = $("recorder");
const canvas = $("screen-preview");
const state = $("rec-state");
// Small PATCHes while recording: bytes leave as soon as the recorder hands them over.
const CHUNK = Math.min(Number(root.dataset.partBytes) || 1048576, 1048576);
const TYPES = ["video/webm;codecs=vp9,opus", "video/webm;codecs=vp8,opus", "video/webm"];
window.vidray = { events: [] };

onUser((user) => {
  root.hidden = !user;
  $("signed-out").hidden = !!user;
});

function videoOf(stream) {
  const element = document.createElement("video");
  element.muted = true;
  element.playsInline = true;
  element.srcObject = stream;
  element.play().catch(() => {});
  return element;
}

// Draws the screen and the round camera bubble onto the canvas the recorder records.
function compose(screen, camera) {
  const g = canvas.getContext("2d");
  let drawing = true;
  const draw = () => {
    if (!drawing) return;
    const [w, h] = [canvas.width, canvas.height];
    g.fillStyle = "#000";
    g.fillRect(0, 0, w, h);
    if (screen && screen.videoWidth) g.drawImage(screen, 0, 0, w, h);
    if (camera && camera.videoWidth) {
      const size = screen ? h / 4 : h;
      const [x, y] = screen ? [w - size - 24, h - size - 24] : [(w - size) / 2, 0];
      g.save();
      g.beginPath();
      g.arc(x + size / 2, y + size / 2, size / 2, 0, 2 * Math.PI);
      g.clip();
      const side = Math.min(camera.videoWidth, camera.videoHeight);
      g.drawImage(camera, (camera.videoWidth - side) / 2, (camera.videoHeight - side) / 2,
                  side, side, x, y, size, size);
      g.restore();
    }
    requestAnimationFrame(draw);
  };
  draw();
  return () => { drawing = false; };
}

function countdown(seconds) {
  return new Promise((resolve) => {
    let left = seconds;
    const tick = () => {
      $("countdown").textContent = left ? String(left) : "";
      if (!left) { resolve(); return; }
      left -= 1;
      setTimeout(tick, 1000);
    };
    tick();
  });
}

let recorder = null;
let upload = null;

async function start() {
  $("rec-start").disabled = true;
  const sources = [];
  try {
    const screen = $("use-screen").checked
      ? await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 30 }, audio: false }) : null;
    const wantCamera = $("use-camera").checked;
    const wantMic = $("use-mic").checked;
    const user = wantCamera || wantMic
      ? await navigator.mediaDevices.getUserMedia({ video: wantCamera, audio: wantMic }) : null;
    if (!screen && !(user && user.getVideoTracks().length)) throw new Error("choose the screen or the camera");
    sources.push(screen, user);
    const stopDrawing = compose(screen && videoOf(screen),
                                user && user.getVideoTracks().length ? videoOf(user) : null);
    const created = await createVideo({
      filename: "recording.webm",
      title: $("rec-title").value.trim() || `Recording ${new Date().toLocaleString()}`,
      visibility: $("rec-visibility").value,
    });
    await countdown(3);
    record(created, { sources, stopDrawing });
  } catch (error) {
    sources.forEach((s) => s && s.getTracks().forEach((t) => t.stop()));
    state.textContent = `Could not start: ${error.message}`;
    $("rec-start").disabled = false;
  }
}

function record({ uploadUrl, video }, { sources, stopDrawing }) {
  const tracks = [...canvas.captureStream(30).getVideoTracks()];
  for (const source of sources) if (source) tracks.push(...source.getAudioTracks());
  const mimeType = TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || "";
  recorder = new MediaRecorder(new MediaStream(tracks), mimeType ? { mimeType } : {});
  let push = null;
  let close = null;
  const stream = new ReadableStream({
    start(controller) {
      push = (bytes) => controller.enqueue(bytes);
      close = () => controller.close();
    },
  });
  // Chunks in order, and the end only after the last one: reading a Blob is async.
  let queue = Promise.resolve();
  recorder.ondataavailable = (event) => {
    if (!event.data.size) return;
    queue = queue.then(async () => push(new Uint8Array(await event.data.arrayBuffer())));
  };
  recorder.onstop = () => {
    queue = queue.then(() => close());
    stopDrawing();
    sources.forEach((s) => s && s.getTracks().forEach((t) => t.stop()));
    window.vidray.events.push("stopped");
    state.textContent = "Finishing the upload…";
  };
  upload = new tus.Upload(stream.getReader(), {
    uploadUrl,
    uploadLengthDeferred: true,
    chunkSize: CHUNK,
    retryDelays: RETRY_DELAYS,
    storeFingerprintForResuming: false,
    onProgress(sent) { $("rec-upload").title = `${(sent / 1048576).toFixed(1)} MiB sent`; },
    onError(error) { state.textContent = `Upload failed: ${error.message}`; },
    onSuccess() {
      $("rec-upload").value = 100;
      window.vidray.events.push("uploaded");
      window.vidray.video = video;
      state.textContent = "Uploaded. Processing…";
      $("rec-href").href = `/watch/${encodeURIComponent(video)}`;
      $("rec-href").textContent = watchUrl(video);
      $("rec-link").hidden = false;
      $("rec-copy").onclick = () => copy(watchUrl(video), state);
      followTranscode(video, {
        bar: $("rec-transcode"),
        state,
        onPlayable: () => window.vidray.events.push("playable"),
        onDone: (final) => window.vidray.events.push(final),
      });
    },
  });
  upload.start();
  recorder.start(1000);  // a chunk a second, each sent on as it comes
  window.vidray.events.push("recording");
  window.vidray.startedAt = performance.now();
  const began = Date.now();
  let paused = 0;
  let pausedAt = 0;
  const ticker = setInterval(() => {
    if (recorder.state === "inactive") { clearInterval(ticker); return; }
    if (recorder.state === "recording") $("rec-clock").textContent = clock((Date.now() - began - paused) / 1000);
  }, 250);
  $("rec-pause").hidden = $("rec-stop").hidden = false;
  $("rec-pause").onclick = () => {
    recorder.pause();
    pausedAt = Date.now();
    $("rec-pause").hidden = true;
    $("rec-resume").hidden = false;
    $("rec-resume").focus();
    state.textContent = "Paused.";
  };
  $("rec-resume").onclick = () => {
    recorder.resume();
    paused += Date.now() - pausedAt;
    $("rec-resume").hidden = true;
    $("rec-pause").hidden = false;
    $("rec-pause").focus();
    state.textContent = "Recording…";
  };
  $("rec-stop").onclick = () => {
    recorder.stop();
    $("rec-pause").hidden = $("rec-resume").hidden = $("rec-stop").hidden = true;
  };
  state.textContent = "Recording…";
}

$("rec-start").addEventListener("click", start);
