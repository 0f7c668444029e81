// The studio: my videos with their status and live progress, each with the edit form;
// the panels of other features (notifications, analytics, the admin job board).
import { gql, onUser } from "/static/session.js";
import { el } from "/static/dom.js";
import { editor } from "/static/editor.js";
import { followTranscode } from "/static/uploader.js";

const MINE = `query($me: ID!, $after: String) {
  videos(first: 50, after: $after, filter: {creatorId: $me}) {
    edges { node { id title description tags visibility status failureReason duration
                   chapters { startSeconds title } playback { posterUrl } } }
    pageInfo { hasNextPage endCursor } } }`;
const PASSWORD = `mutation($password: String!, $current: String) {
  setPassword(password: $password, currentPassword: $current) }`;
const list = document.getElementById("my-videos");
const status = document.getElementById("studio-status");
const stops = [];

function row(video) {
  const state = el("p", { className: "state", role: "status" }, video.status.toLowerCase());
  const bar = el("progress", { max: 100, value: video.status === "READY" ? 100 : 0,
                               "aria-label": `Processing ${video.title || "Untitled"}` });
  const poster = video.playback && video.playback.posterUrl
    ? el("img", { src: video.playback.posterUrl, alt: "" }) : el("div", { className: "no-poster" });
  const title = el("a", { href: `/watch/${encodeURIComponent(video.id)}` }, video.title || "Untitled");
  const item = el("li", { className: "studio-video", dataset: { video: video.id } },
    poster,
    el("div", {},
      el("h3", {}, title),
      video.failureReason ? el("p", { className: "error" }, video.failureReason) : null,
      state, bar,
      el("details", {}, el("summary", {}, `Edit “${video.title || "Untitled"}”`),
        editor(video, {
          onSaved: (saved) => { title.textContent = saved.title || "Untitled"; },
          onDeleted: () => { item.remove(); status.textContent = "Video deleted."; },
        }))));
  if (video.status === "PROCESSING" || video.status === "UPLOADING") {
    stops.push(followTranscode(video.id, {
      bar, state, onDone: (final) => { if (final === "done") state.textContent = "ready"; },
    }));
  }
  return item;
}

async function load(user) {
  stops.splice(0).forEach((stop) => stop());
  const rows = [];
  let after = null;
  do {
    const data = await gql(MINE, { me: user.id, after });
    rows.push(...data.videos.edges.map((edge) => row(edge.node)));
    after = data.videos.pageInfo.hasNextPage ? data.videos.pageInfo.endCursor : null;
  } while (after);
  list.replaceChildren(...rows);
  status.textContent = rows.length ? "" : "No videos yet.";
}

async function panels(user) {
  for (const panel of document.querySelectorAll("[data-panel]")) {
    if (panel.dataset.admin && user.role !== "ADMIN") continue;
    // A panel without its module yet stays as the template left it.
    if (!panel.dataset.panel) continue;
    panel.hidden = false;
    try {
      const module = await import(panel.dataset.panel);
      await module.mount(panel);
    } catch (error) {
      panel.append(el("p", { className: "error" }, `Could not load: ${error.message}`));
    }
  }
}

onUser((user) => {
  document.getElementById("studio").hidden = !user;
  document.getElementById("signed-out").hidden = !!user;
  if (!user) return;
  load(user).catch((error) => { status.textContent = error.message; });
  panels(user);
});

document.getElementById("password-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const said = document.getElementById("password-status");
  try {
    await gql(PASSWORD, {
      password: document.getElementById("new-password").value,
      current: document.getElementById("current-password").value || null,
    });
    said.textContent = "Password set: you can now sign in with it.";
  } catch (error) {
    said.textContent = error.message;
  }
});
