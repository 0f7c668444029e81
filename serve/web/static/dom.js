// Building page parts from data: every piece of user text goes in as textContent (never
// as HTML), so a title like `<img src=x onerror=...>` shows as those characters.

/** `el("a", {href: "/x", className: "y"}, "text", child)`: an element with properties
 * (`on*` functions become listeners, `dataset`/`aria` objects are spread) and children. */
export function el(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2), value);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name.includes("-")) {
      element.setAttribute(name, value === true ? "" : String(value));
    } else {
      element[name] = value;
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** 75.4 -> "1:15"; 3725 -> "1:02:05". */
export function clock(seconds) {
  const total = Math.max(0, Math.floor(seconds || 0));
  const [h, m, s] = [Math.floor(total / 3600), Math.floor(total / 60) % 60, total % 60];
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

/** "00:00 Intro" lines (as in a description) to chapters, and back. */
export function parseChapters(text) {
  const chapters = [];
  for (const line of text.split("\n")) {
    const found = /^\s*((?:\d+:)?\d{1,2}:\d{2})\s+(.+)$/.exec(line);
    if (!found) continue;
    const startSeconds = found[1].split(":").reduce((sum, part) => sum * 60 + Number(part), 0);
    chapters.push({ startSeconds, title: found[2].trim() });
  }
  return chapters;
}

export function chapterLines(chapters) {
  return chapters.map((c) => `${clock(c.startSeconds)} ${c.title}`).join("\n");
}
