// What /upload and /record share: a video created through GraphQL, its bytes sent with
// tus-js-client to the upload edge, then its transcode followed live.
import { gql, subscribe } from "/static/session.js";

const CREATE = `mutation($input: CreateUploadInput!) {
  createUpload(input: $input) { uploadUrl video { id } } }`;
const TAGS = `mutation($id: ID!, $tags: [String!]) {
  updateVideo(id: $id, input: {tags: $tags}) { id } }`;
const PROGRESS = `subscription($id: ID!) {
  transcodeProgress(videoId: $id) { state stage percent playable error } }`;

// Retries cover a dropped connection: each one asks the edge for its offset first.
export const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000];

export async function createVideo({ size = null, filename, title, description, visibility, tags }) {
  const input = { size, filename, title: title || null, description: description || null, visibility };
  const data = await gql(CREATE, { input });
  const video = data.createUpload.video.id;
  if (tags && tags.length) await gql(TAGS, { id: video, tags });
  return { uploadUrl: data.createUpload.uploadUrl, video };
}

export function parseTags(text) {
  return text.split(",").map((tag) => tag.trim()).filter(Boolean);
}

export function watchUrl(video) {
  return `${location.origin}/watch/${encodeURIComponent(video)}`;
}

/** Copies `text`; where the clipboard API is refused, selects it for the user to copy. */
export async function copy(text, status) {
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = "Link copied.";
  } catch {
    status.textContent = `Copy this link: ${text}`;
  }
}

/** Follows the transcode: fills `bar`, says the stage in `state`, calls `onPlayable`
 * once the lowest rung plays and `onDone(state)` at the end. */
export function followTranscode(video, { bar, state, onPlayable = () => {}, onDone = () => {} }) {
  let playable = false;
  let last = null;
  const stop = subscribe(PROGRESS, { id: video }, {
    onData: (data) => {
      last = data.transcodeProgress;
      bar.value = last.percent;
      state.textContent = last.error
        ? `Processing failed: ${last.error}`
        : `Processing: ${last.stage} (${Math.round(last.percent)}%)`;
      if (last.playable && !playable) {
        playable = true;
        onPlayable();
      }
      if (last.state === "done") state.textContent = "Ready: your video is fully processed.";
    },
    onDone: () => onDone(last ? last.state : "unknown"),
    onError: (error) => { state.textContent = error.message; onDone("failed"); },
  });
  return stop;
}
