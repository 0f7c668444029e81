// The owner's edit form, on the watch page and in the studio: title, description, tags,
// visibility, chapters, thumbnail (a frame or an image), delete.
import { gql } from "/static/session.js";
import { chapterLines, el, parseChapters } from "/static/dom.js";

const UPDATE = `mutation($id: ID!, $input: UpdateVideoInput!) {
  updateVideo(id: $id, input: $input) { id title description tags visibility } }`;
const CHAPTERS = `mutation($id: ID!, $chapters: [ChapterInput!]!) {
  setChapters(videoId: $id, chapters: $chapters) { id chapters { startSeconds title } } }`;
const THUMBNAIL = `mutation($id: ID!, $at: Float, $image: String) {
  setThumbnail(videoId: $id, atSeconds: $at, imageBase64: $image) { id playback { posterUrl } } }`;
const DELETE = "mutation($id: ID!) { deleteVideo(id: $id) }";
const VISIBILITY = { PUBLIC: "Public", UNLISTED: "Unlisted", PRIVATE: "Private" };

function field(id, text, control) {
  control.id = id;
  return [el("label", { htmlFor: id }, text), control];
}

function base64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1]);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

/** A form editing `video` (fields of the Video type); `onSaved(video)` after each save,
 * `onDeleted()` after a delete, `frameAt()` the seconds to take a poster from. */
export function editor(video, { onSaved = () => {}, onDeleted = () => {}, frameAt = null }) {
  const p = `edit-${video.id}`;
  const status = el("p", { role: "status", "aria-live": "polite" });
  const title = el("input", { value: video.title, maxLength: 200, required: true });
  const description = el("textarea", { value: video.description || "", rows: 3 });
  const tags = el("input", { value: (video.tags || []).join(", ") });
  const visibility = el("select", {},
    Object.entries(VISIBILITY).map(([value, text]) =>
      el("option", { value, selected: value === video.visibility }, text)));
  const chapters = el("textarea", { value: chapterLines(video.chapters || []), rows: 3,
                                    placeholder: "0:00 Intro\n1:30 Demo" });
  const at = el("input", { type: "number", min: 0, step: "0.1", value: "1" });
  const image = el("input", { type: "file", accept: "image/jpeg,image/png,image/webp" });
  const run = async (what, work) => {
    status.textContent = `${what}…`;
    try {
      await work();
      status.textContent = `${what}: done.`;
    } catch (error) {
      status.textContent = `${what} failed: ${error.message}`;
    }
  };

  const form = el("form", {
    className: "editor",
    onsubmit: (event) => {
      event.preventDefault();
      run("Saving", async () => {
        const input = {
          title: title.value.trim(),
          description: description.value,
          tags: tags.value.split(",").map((t) => t.trim()).filter(Boolean),
          visibility: visibility.value,
        };
        const saved = (await gql(UPDATE, { id: video.id, input })).updateVideo;
        const marks = parseChapters(chapters.value);
        const withChapters = (await gql(CHAPTERS, { id: video.id, chapters: marks })).setChapters;
        Object.assign(video, saved, withChapters);
        onSaved(video);
      });
    },
  },
  ...field(`${p}-title`, "Title", title),
  ...field(`${p}-description`, "Description", description),
  ...field(`${p}-tags`, "Tags, separated by commas", tags),
  ...field(`${p}-visibility`, "Visibility", visibility),
  ...field(`${p}-chapters`, "Chapters, one per line (0:00 Title)", chapters),
  el("div", { className: "row" }, el("button", { type: "submit" }, "Save")));

  const thumbnail = el("fieldset", {},
    el("legend", {}, "Thumbnail"),
    ...field(`${p}-at`, "Take the frame at (seconds)", at),
    el("div", { className: "row" },
      el("button", { type: "button", onclick: () => run("Setting the thumbnail", async () => {
        const seconds = frameAt ? frameAt() : Number(at.value);
        await gql(THUMBNAIL, { id: video.id, at: seconds, image: null });
      }) }, frameAt ? "Use the current frame" : "Use this frame")),
    ...field(`${p}-image`, "Or upload an image", image),
    el("div", { className: "row" },
      el("button", { type: "button", onclick: () => run("Uploading the thumbnail", async () => {
        if (!image.files[0]) throw new Error("choose an image first");
        await gql(THUMBNAIL, { id: video.id, at: null, image: await base64(image.files[0]) });
      }) }, "Upload image")));

  const remove = el("button", {
    type: "button",
    className: "danger",
    onclick: () => {
      if (!window.confirm(`Delete “${video.title}” for good? Its files and comments go too.`)) return;
      run("Deleting", async () => {
        await gql(DELETE, { id: video.id });
        onDeleted(video);
      });
    },
  }, "Delete video");
  return el("div", {}, form, thumbnail, el("div", { className: "row" }, remove), status);
}
