// The search page: results with posters, snippets and caption moments, facets as
// filters, suggestions while typing, and trending searches. Snippets (titleHtml,
// snippetHtml) come escaped from the server with only <mark> added, so they are set as
// HTML; everything else is set as text.

const SEARCH = `query($q: String!, $filter: SearchFilterInput, $sort: String!, $after: String) {
  search(query: $q, filter: $filter, sort: $sort, first: 20, after: $after) {
    total
    hits { link titleHtml snippetHtml startSeconds video { id duration playback { posterUrl } } }
    facets { category { value count } tags { value count } duration { value count } }
    pageInfo { hasNextPage endCursor }
  }
}`;
const DURATIONS = { short: [null, 240], medium: [240, 1200], long: [1200, null] };

// By id: the header's search box (base.html) is a form.search too, and comes first.
const form = document.getElementById("search-page-form");
const input = form.elements.q;
const list = document.querySelector("ul.hits");
const status = document.querySelector(".search-status");
const more = document.querySelector("button.more");
const facets = document.querySelector("aside.facets");
const chosen = { category: new Set(), tags: new Set(), duration: null };
let cursor = null;

async function gql(query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(body.errors[0].message);
  return body.data;
}

function filter() {
  const value = {};
  if (chosen.category.size) value.categoryOneOf = [...chosen.category];
  if (chosen.tags.size) value.tagsAllOf = [...chosen.tags];
  if (chosen.duration) {
    const [min, max] = DURATIONS[chosen.duration];
    if (min !== null) value.durationMin = min;
    if (max !== null) value.durationMax = max;
  }
  return value;
}

function clock(seconds) {
  const s = Math.floor(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function hitItem(hit) {
  const item = document.createElement("li");
  item.className = "hit";
  const link = document.createElement("a");
  link.href = hit.link;
  const poster = hit.video.playback && hit.video.playback.posterUrl;
  if (poster) {
    const img = document.createElement("img");
    img.src = poster;
    img.alt = "";
    img.loading = "lazy";
    link.append(img);
  }
  const title = document.createElement("span");
  title.className = "title";
  title.innerHTML = hit.titleHtml; // escaped by the server, <mark> only
  link.append(title);
  item.append(link);
  if (hit.snippetHtml) {
    const snippet = document.createElement("p");
    snippet.className = "snippet";
    if (hit.startSeconds !== null) {
      const at = document.createElement("a");
      at.href = hit.link;
      at.className = "moment";
      at.textContent = clock(hit.startSeconds);
      snippet.append(at, " ");
    }
    const text = document.createElement("span");
    text.innerHTML = hit.snippetHtml; // escaped by the server, <mark> only
    snippet.append(text);
    item.append(snippet);
  }
  return item;
}

function facetGroup(name, counts, isChosen, toggle) {
  if (!counts.length) return null;
  const group = document.createElement("fieldset");
  const legend = document.createElement("legend");
  legend.textContent = name;
  group.append(legend);
  for (const { value, count } of counts) {
    const label = document.createElement("label");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = isChosen(value);
    box.addEventListener("change", () => {
      toggle(value, box.checked);
      run();
    });
    label.append(box, ` ${value} (${count})`);
    group.append(label);
  }
  return group;
}

function showFacets(found) {
  facets.replaceChildren();
  if (!found) return;
  const groups = [
    facetGroup("Category", found.category, (v) => chosen.category.has(v), (v, on) =>
      on ? chosen.category.add(v) : chosen.category.delete(v)),
    facetGroup("Tags", found.tags, (v) => chosen.tags.has(v), (v, on) =>
      on ? chosen.tags.add(v) : chosen.tags.delete(v)),
    facetGroup("Duration", found.duration, (v) => chosen.duration === v, (v, on) => {
      chosen.duration = on ? v : null;
    }),
  ];
  facets.append(...groups.filter(Boolean));
}

async function run({ append = false } = {}) {
  const q = input.value.trim();
  const url = new URL(location.href);
  url.searchParams.set("q", q);
  history.replaceState(null, "", url);
  if (!append) cursor = null;
  status.textContent = "Searching…";
  try {
    const { search } = await gql(SEARCH, {
      q, filter: filter(), sort: form.elements.sort.value, after: cursor,
    });
    if (!append) list.replaceChildren();
    list.append(...search.hits.map(hitItem));
    status.textContent = search.total ? `${search.total} found` : "Nothing found.";
    cursor = search.pageInfo.endCursor;
    more.hidden = !search.pageInfo.hasNextPage;
    if (!append) showFacets(search.facets);
  } catch (error) {
    status.textContent = error.message;
  }
}

let typing = null;
input.addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(async () => {
    const prefix = input.value.trim();
    if (!prefix) return;
    try {
      const { suggest } = await gql("query($p: String!) { suggest(prefix: $p) }", { p: prefix });
      const options = suggest.map((title) => {
        const option = document.createElement("option");
        option.value = title;
        return option;
      });
      document.getElementById("search-suggestions").replaceChildren(...options);
    } catch {
      // A suggestion that fails is just not shown.
    }
  }, 150);
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  run();
});
form.elements.sort.addEventListener("change", () => run());
more.addEventListener("click", () => run({ append: true }));

gql("{ trendingSearches }").then(({ trendingSearches }) => {
  const items = trendingSearches.map((text) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/search?q=${encodeURIComponent(text)}`;
    link.textContent = text;
    item.append(link);
    return item;
  });
  document.querySelector(".trending ol").replaceChildren(...items);
}).catch(() => {});

if (input.value.trim()) run();
