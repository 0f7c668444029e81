// /upload: pick or drop a file, send it with tus-js-client (pause, resume, and resume
// after a reload or a dropped connection), then follow the transcode live.
import { onUser } from "/static/session.js";
import {
  RETRY_DELAYS, copy, createVideo, followTranscode, parseTags, watchUrl,
} from "/static/uploader.js";

const form = document.getElementById("upload-form");
const input = document.getElementById("file");
const drop = document.getElementById("drop");
const chosen = document.getElementById("chosen");
const bar = document.getElementById("upload-bar");
const percent = document.getElementById("upload-percent");
const pause = document.getElementById("pause");
const resume = document.getElementById("resume");
const state = document.getElementById("state");
const partBytes = Number(form.dataset.partBytes) || Infinity;
let file = null;
let upload = null;
// Read by tests: what the page did, in order.
window.vidray = { events: [] };

onUser((user) => {
  form.hidden = !user;
  document.getElementById("signed-out").hidden = !!user;
});

// Where a page reload finds an unfinished upload of the same file again.
const keyOf = (f) => `vidray.upload:${f.name}:${f.size}:${f.lastModified}`;

function choose(picked) {
  file = picked;
  chosen.textContent = file ? `${file.name} (${(file.size / 1048576).toFixed(1)} MiB)` : "";
  const title = document.getElementById("title");
  if (file && !title.value) title.value = file.name.replace(/\.[^.]+$/, "");
  if (file && localStorage.getItem(keyOf(file))) {
    chosen.textContent += ": you started uploading this file before; it will resume.";
  }
}

input.addEventListener("change", () => choose(input.files[0] || null));
for (const type of ["dragenter", "dragover"]) {
  drop.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add("over"); });
}
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (event.dataTransfer.files.length) choose(event.dataTransfer.files[0]);
});

function showLink(video) {
  const href = document.getElementById("watch-href");
  href.href = `/watch/${encodeURIComponent(video)}`;
  href.textContent = watchUrl(video);
  document.getElementById("watch-link").hidden = false;
  document.getElementById("copy").onclick = () => copy(watchUrl(video), state);
}

function send({ uploadUrl, video }, key, fresh) {
  upload = new tus.Upload(file, {
    uploadUrl,
    chunkSize: partBytes,
    retryDelays: RETRY_DELAYS,
    storeFingerprintForResuming: false,
    onProgress(sent, total) {
      const value = total ? (100 * sent) / total : 0;
      bar.value = value;
      percent.textContent = `${Math.floor(value)}%`;
    },
    onError(error) {
      window.vidray.events.push("error");
      if (!fresh) {
        // The stored upload expired or went away: start this file again.
        localStorage.removeItem(key);
        start().catch((again) => { state.textContent = again.message; });
        return;
      }
      if (!navigator.onLine) {
        // tus-js-client does not retry while offline: carry on once the network is back.
        window.vidray.events.push("offline");
        state.textContent = "Connection lost: the upload resumes when it is back.";
        window.addEventListener("online", () => {
          window.vidray.events.push("online");
          state.textContent = "Uploading…";
          upload.start();
        }, { once: true });
        return;
      }
      state.textContent = `Upload stopped: ${error.message}. Press Resume to try again.`;
      pause.hidden = true;
      resume.hidden = false;
    },
    onSuccess() {
      window.vidray.events.push("uploaded");
      localStorage.removeItem(key);
      pause.hidden = resume.hidden = true;
      state.textContent = "Uploaded. Processing…";
      followTranscode(video, {
        bar: document.getElementById("transcode-bar"),
        state,
        onPlayable: () => { window.vidray.events.push("playable"); showLink(video); },
        onDone: (final) => { window.vidray.events.push(final); },
      });
    },
  });
  window.vidray.video = video;
  upload.start();
}

async function start() {
  const key = keyOf(file);
  const stored = localStorage.getItem(key);
  if (stored) {
    window.vidray.events.push("resumed");
    send(JSON.parse(stored), key, false);
    return;
  }
  const created = await createVideo({
    size: file.size,
    filename: file.name,
    title: document.getElementById("title").value.trim(),
    description: document.getElementById("description").value,
    visibility: document.getElementById("visibility").value,
    tags: parseTags(document.getElementById("tags").value),
  });
  localStorage.setItem(key, JSON.stringify(created));
  send(created, key, true);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!file) { state.textContent = "Choose a file first."; return; }
  document.getElementById("progress").hidden = false;
  document.getElementById("start").disabled = true;
  state.textContent = "Uploading…";
  try {
    await start();
  } catch (error) {
    state.textContent = error.message;
    document.getElementById("start").disabled = false;
  }
});

pause.addEventListener("click", () => {
  upload.abort();
  window.vidray.events.push("paused");
  pause.hidden = true;
  resume.hidden = false;
  resume.focus();
  state.textContent = "Paused. You can also close this page and pick the same file later.";
});
resume.addEventListener("click", () => {
  upload.start();
  window.vidray.events.push("resuming");
  resume.hidden = true;
  pause.hidden = false;
  pause.focus();
  state.textContent = "Uploading…";
});
