// The studio's Notifications panel: the signed-in user's inbox (newest first, unread
// marked, "load more" over the connection, "mark all read"), new ones as they arrive
// over the notificationAdded subscription, and the preferences matrix.
import { gql, subscribe } from "/static/session.js";
import { el } from "/static/dom.js";

const FIELDS = "id kind title body link createdAt read";
const INBOX = `query($after: String) { notifications(first: 20, after: $after) {
  edges { node { ${FIELDS} } } hasNextPage endCursor unreadCount } }`;
const MARK_ALL = "mutation { markNotificationsRead }";
const PREFS = "{ notificationPreferences { kind description inApp email sms } }";
const SET_PREFS = `mutation($p: [NotificationPreferenceInput!]!) {
  setNotificationPreferences(preferences: $p) { kind description inApp email sms } }`;
const ADDED = `subscription { notificationAdded { ${FIELDS} } }`;
const CHANNELS = [["inApp", "In app"], ["email", "Email"], ["sms", "SMS"]];
// Without the websocket (a proxy that drops it), ask again this often instead.
const POLL_MS = 30_000;

// Links come from the server, but only http(s) or same-site paths become hrefs.
function safeHref(link) {
  if (!link) return null;
  try {
    const url = new URL(link, location.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

function item(note) {
  const href = safeHref(note.link);
  const when = new Date(note.createdAt);
  return el("li", { className: note.read ? "notification" : "notification unread",
                    dataset: { id: note.id, read: String(note.read) } },
    note.read ? null : el("span", { className: "badge" }, "Unread"),
    el("strong", {}, href ? el("a", { href }, note.title) : note.title),
    note.body ? el("p", {}, note.body) : null,
    el("time", { dateTime: when.toISOString() }, when.toLocaleString()));
}

function markedRead(list) {
  for (const li of list.querySelectorAll(".notification.unread")) {
    li.classList.remove("unread");
    li.dataset.read = "true";
    li.querySelector(".badge")?.remove();
  }
}

function inbox() {
  const status = el("p", { role: "status", "aria-live": "polite", className: "inbox-status" });
  const list = el("ul", { className: "notifications", "aria-label": "Your notifications" });
  const more = el("button", { type: "button", hidden: true }, "Load more");
  const markAll = el("button", { type: "button" }, "Mark all read");
  const seen = new Set();
  let unread = 0;
  let after = null;

  const say = () => {
    status.textContent = list.children.length
      ? `${unread} unread` : "No notifications yet.";
  };
  const add = (notes, { atTop = false } = {}) => {
    const fresh = notes.filter((n) => !seen.has(n.id));
    fresh.forEach((n) => seen.add(n.id));
    const rows = fresh.map(item);
    if (atTop) list.prepend(...rows); else list.append(...rows);
    return fresh;
  };
  const page = async () => {
    const { notifications: got } = await gql(INBOX, { after });
    add(got.edges.map((e) => e.node));
    unread = got.unreadCount;
    after = got.endCursor;
    more.hidden = !got.hasNextPage;
    say();
  };
  // The newest page again, for what came while we were not listening.
  const newest = async () => {
    const { notifications: got } = await gql(INBOX, { after: null });
    add(got.edges.map((e) => e.node).reverse(), { atTop: true });
    unread = got.unreadCount;
    say();
  };

  more.addEventListener("click", () => {
    more.disabled = true;
    page().catch((error) => { status.textContent = error.message; })
      .finally(() => { more.disabled = false; });
  });
  markAll.addEventListener("click", async () => {
    try {
      await gql(MARK_ALL);
      markedRead(list);
      unread = 0;
      say();
    } catch (error) {
      status.textContent = error.message;
    }
  });

  let polling = null;
  const poll = () => {
    if (polling) return;
    polling = setInterval(() => { newest().catch(() => {}); }, POLL_MS);
  };
  const listen = () => subscribe(ADDED, {}, {
    onData: (data) => {
      if (add([data.notificationAdded], { atTop: true }).length && !data.notificationAdded.read) {
        unread += 1;
      }
      say();
    },
    onError: poll,
    onDone: poll,
  });

  const root = el("div", { className: "inbox" },
    el("div", { className: "row" }, markAll), status, list, more);
  return { root, start: async () => { await page(); listen(); } };
}

function preferences() {
  const status = el("p", { role: "status", "aria-live": "polite" });
  const body = el("tbody");
  const form = el("form", { className: "preferences" },
    el("table", {},
      el("caption", {}, "Which notifications you get, and where"),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Notification"),
        ...CHANNELS.map(([, label]) => el("th", { scope: "col" }, label)))),
      body),
    el("button", { type: "submit" }, "Save preferences"), status);

  const show = (rows) => {
    body.replaceChildren(...rows.map((pref) => el("tr", { dataset: { kind: pref.kind } },
      el("th", { scope: "row" }, pref.description),
      ...CHANNELS.map(([field, label]) => el("td", {}, el("input", {
        type: "checkbox", name: field, checked: pref[field],
        "aria-label": `${label}: ${pref.description}`,
      }))))));
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const p = [...body.rows].map((row) => {
      const box = (name) => row.querySelector(`input[name=${name}]`).checked;
      return { kind: row.dataset.kind, inApp: box("inApp"), email: box("email"), sms: box("sms") };
    });
    try {
      show((await gql(SET_PREFS, { p })).setNotificationPreferences);
      status.textContent = "Preferences saved.";
    } catch (error) {
      status.textContent = error.message;
    }
  });
  const details = el("details", { className: "preferences-box" },
    el("summary", {}, "Notification preferences"), form);
  return { root: details, start: async () => { show((await gql(PREFS)).notificationPreferences); } };
}

export async function mount(element) {
  element.querySelector(".placeholder")?.remove();
  const box = inbox();
  const prefs = preferences();
  element.append(box.root, prefs.root);
  await Promise.all([box.start(), prefs.start()]);
}
