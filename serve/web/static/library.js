// The library: more cards as the reader nears the end (the server renders them, so
// escaping stays in one place), and storyboard frames on hover over a thumbnail.
const list = document.getElementById("cards");

async function more(link) {
  const answer = await fetch(link.dataset.cards);
  if (!answer.ok) return;
  const template = document.createElement("template");
  template.innerHTML = await answer.text();  // this server's escaped HTML; CSP stops scripts
  link.closest("li").replaceWith(template.content);
  watchForMore();
}

const observer = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    observer.unobserve(entry.target);
    more(entry.target).catch(() => observer.observe(entry.target));
  }
}, { rootMargin: "600px" });

function watchForMore() {
  const link = list && list.querySelector("a.more");
  if (link) observer.observe(link);
}
watchForMore();

// Storyboard cues per VTT URL, loaded on the first hover.
const boards = new Map();

function seconds(text) {
  return text.trim().split(":").map(Number).reduce((total, part) => total * 60 + part, 0);
}

// Loads the VTT and its sprite sheet once: the sheet's width scales a tile to the card.
async function cues(url) {
  if (!boards.has(url)) {
    boards.set(url, fetch(url).then((r) => (r.ok ? r.text() : "")).then(async (text) => {
      const found = [];
      for (const block of text.split(/\n\s*\n/)) {
        const lines = block.trim().split("\n");
        const timing = lines.findIndex((line) => line.includes("-->"));
        if (timing < 0 || !lines[timing + 1]) continue;
        const target = new URL(lines[timing + 1].trim(), new URL(url, location.href));
        const [x, y, w, h] = target.hash.replace("#xywh=", "").split(",").map(Number);
        target.hash = "";
        found.push({ start: seconds(lines[timing].split("-->")[0]), image: target.href, x, y, w, h });
      }
      if (found.length) {
        const sheet = new Image();
        sheet.src = found[0].image;
        await sheet.decode().catch(() => {});
        found.forEach((cue) => { cue.sheetWidth = sheet.naturalWidth; });
      }
      return found;
    }));
  }
  return boards.get(url);
}

if (list) {
  list.addEventListener("mousemove", async (event) => {
    const thumb = event.target.closest(".thumb[data-storyboard]");
    if (!thumb) return;
    const all = await cues(thumb.dataset.storyboard);
    if (!all.length) return;
    const box = thumb.getBoundingClientRect();
    const cue = all[Math.min(all.length - 1, Math.floor((all.length * (event.clientX - box.left)) / box.width))];
    const scale = box.width / cue.w;
    thumb.classList.add("previewing");
    Object.assign(thumb.style, {
      backgroundImage: `url("${cue.image}")`,
      backgroundPosition: `-${cue.x * scale}px -${cue.y * scale}px`,
      // The sheet scaled so that one tile fills the thumbnail.
      backgroundSize: cue.sheetWidth ? `${cue.sheetWidth * scale}px auto` : "auto",
    });
  });
  list.addEventListener("mouseout", (event) => {
    const thumb = event.target.closest(".thumb");
    if (thumb && !thumb.contains(event.relatedTarget)) {
      thumb.classList.remove("previewing");
      thumb.style.backgroundImage = "";
    }
  });
}
