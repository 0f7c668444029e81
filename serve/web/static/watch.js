// The watch page around the player: chapters (list and timeline marks), likes, share,
// the owner's edit form, and threaded comments whose timestamps seek.
import { seekTo, video as player } from "/static/player.js";
import { gql, onUser, session } from "/static/session.js";
import { clock, el } from "/static/dom.js";
import { editor } from "/static/editor.js";
import { copy } from "/static/uploader.js";

const config = JSON.parse(document.getElementById("playback").textContent);
const id = config.video;
const notice = document.getElementById("notice");
const VIDEO = `query($id: ID!) { video(id: $id) {
  id title description tags visibility duration likeCount viewerHasLiked commentCount
  createdAt chapters { startSeconds title } owner { id handle displayName } } }`;
const COMMENT_FIELDS = "id body timestampSeconds replyCount deleted createdAt author { handle displayName }";
const COMMENTS = `query($id: ID!) { comments(videoId: $id, first: 50) { edges { node {
  ${COMMENT_FIELDS} replies(first: 50) { edges { node { ${COMMENT_FIELDS} } } } } } } }`;
const ADD = `mutation($id: ID!, $body: String!, $parent: ID, $at: Float) {
  addComment(videoId: $id, body: $body, parentId: $parent, timestampSeconds: $at) { id } }`;
const LIKE = "mutation($id: ID!) { likeVideo(id: $id) { likeCount viewerHasLiked } }";
const UNLIKE = "mutation($id: ID!) { unlikeVideo(id: $id) { likeCount viewerHasLiked } }";
let current = null;

function showLikes(data) {
  const like = document.getElementById("like");
  like.setAttribute("aria-pressed", String(data.viewerHasLiked));
  document.getElementById("like-count").textContent = `(${data.likeCount})`;
}

function showChapters(chapters, duration) {
  const list = document.getElementById("chapters");
  list.replaceChildren(...chapters.map((c) => el("li", {},
    el("button", { type: "button", className: "link stamp", onclick: () => seekTo(c.startSeconds) },
      clock(c.startSeconds)), " ", c.title)));
  document.getElementById("chapters-section").hidden = chapters.length === 0;
  const marks = document.getElementById("marks");
  marks.replaceChildren();
  if (!duration) return;
  for (const c of chapters) {
    const mark = el("span", { title: c.title });
    mark.style.left = `${(100 * c.startSeconds) / duration}%`;
    marks.append(mark);
  }
}

function showVideo(data) {
  current = data;
  document.getElementById("video-title").textContent = data.title || "Untitled";
  document.title = `${data.title || "Untitled"} · vidray`;
  document.getElementById("description").textContent = data.description;
  const who = data.owner ? data.owner.displayName || data.owner.handle : "someone";
  document.getElementById("byline").textContent =
    `By ${who} · ${data.createdAt.slice(0, 10)} · ${data.commentCount} comment${data.commentCount === 1 ? "" : "s"}`;
  showLikes(data);
  showChapters(data.chapters, player.duration || data.duration);
}

function comment(node, depth = 0) {
  const stamp = node.timestampSeconds === null || node.timestampSeconds === undefined ? null
    : el("button", { type: "button", className: "link stamp",
                     "aria-label": `Play from ${clock(node.timestampSeconds)}`,
                     onclick: () => seekTo(node.timestampSeconds) }, clock(node.timestampSeconds));
  const author = node.author ? node.author.displayName || node.author.handle : "deleted";
  const item = el("li", { dataset: { comment: node.id } },
    el("span", { className: "author" }, author), " ",
    el("span", { className: "meta" }, node.createdAt.slice(0, 10)), " ",
    stamp, el("p", { className: "body" }, node.deleted ? "(deleted)" : node.body));
  if (depth === 0 && session.user) {
    item.append(el("button", { type: "button", className: "link",
                               onclick: () => item.append(replyForm(node.id)) }, "Reply"));
  }
  const replies = node.replies ? node.replies.edges.map((e) => comment(e.node, depth + 1)) : [];
  if (replies.length) item.append(el("ul", { className: "replies comments" }, replies));
  return item;
}

function replyForm(parent) {
  const body = el("textarea", { id: `reply-${parent}`, required: true, rows: 2 });
  const form = el("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      await post(body.value, parent, null);
    },
  }, el("label", { htmlFor: body.id }, "Your reply"), body, el("button", { type: "submit" }, "Reply"));
  queueMicrotask(() => body.focus());
  return form;
}

async function post(body, parent, at) {
  try {
    await gql(ADD, { id, body, parent, at });
    await loadComments();
    notice.textContent = "Comment posted.";
  } catch (error) {
    notice.textContent = `Could not comment: ${error.message}`;
  }
}

async function loadComments() {
  const data = await gql(COMMENTS, { id });
  document.getElementById("comments").replaceChildren(
    ...data.comments.edges.map((edge) => comment(edge.node)));
}

async function load() {
  const data = await gql(VIDEO, { id });
  if (!data.video) {
    // Nothing to show this viewer: keep the reason, drop the player and its parts.
    for (const part of document.querySelectorAll("main video, main .bar, main section")) {
      part.hidden = true;
    }
    return;
  }
  showVideo(data.video);
  const owner = session.user && data.video.owner && session.user.id === data.video.owner.id;
  const tools = document.getElementById("owner-tools");
  tools.hidden = !owner;
  if (owner) {
    document.getElementById("editor").replaceChildren(editor(data.video, {
      frameAt: () => player.currentTime,
      onSaved: (saved) => showVideo({ ...current, ...saved }),
      onDeleted: () => location.assign("/studio"),
    }));
  }
}

player.addEventListener("loadedmetadata", () => {
  if (current) showChapters(current.chapters, player.duration);
});
player.addEventListener("timeupdate", () => {
  document.getElementById("comment-time").textContent = clock(player.currentTime);
});

document.getElementById("like").addEventListener("click", async () => {
  if (!session.user) { location.assign(`/signin?next=${encodeURIComponent(location.pathname)}`); return; }
  const liked = document.getElementById("like").getAttribute("aria-pressed") === "true";
  try {
    const data = await gql(liked ? UNLIKE : LIKE, { id });
    showLikes(liked ? data.unlikeVideo : data.likeVideo);
  } catch (error) {
    notice.textContent = error.message;
  }
});

document.getElementById("share").addEventListener("click", () => {
  const at = Math.floor(player.currentTime);
  const url = `${location.origin}/watch/${encodeURIComponent(id)}${at ? `?t=${at}` : ""}`;
  copy(url, notice);
});

document.getElementById("comment-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = document.getElementById("comment-body");
  const at = document.getElementById("comment-at").checked ? player.currentTime : null;
  await post(body.value, null, at);
  body.value = "";
});

onUser((user) => {
  document.getElementById("comment-form").hidden = !user;
  document.getElementById("comment-signin").hidden = !!user;
  load().catch((error) => { notice.textContent = error.message; });
  loadComments().catch(() => {});  // none for a video this viewer may not see
});
