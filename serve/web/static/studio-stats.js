// The studio's Analytics panel: channel totals for a date range (the last 28 days at
// first), a picker over the creator's videos, and that video's stats drawn by
// /static/stats.js (views over time, retention, countries, devices, QoE).
import { gql, session, token } from "/static/session.js";
import { el } from "/static/dom.js";
import { renderStats } from "/static/stats.js";

const CHANNEL = `query($from: DateTime, $to: DateTime) { channelStats(from: $from, to: $to) {
  totals { views plays uniques watchTimeSeconds } } }`;
const MINE = `query($me: ID!, $after: String) {
  videos(first: 50, after: $after, filter: {creatorId: $me}) {
    edges { node { id title } } pageInfo { hasNextPage endCursor } } }`;
const DAY_MS = 86_400_000;
let chartLoading = null;

// Chart.js is a classic script (a UMD build): load it once, from our own origin.
function loadChart() {
  if (window.Chart) return Promise.resolve();
  chartLoading = chartLoading || new Promise((resolve, reject) => {
    const script = el("script", { src: "/assets/chart.umd.min.js" });
    script.addEventListener("load", resolve);
    script.addEventListener("error", () => reject(new Error(
      "Chart.js is not installed on this server: run `vidray assets`.")));
    document.head.append(script);
  });
  return chartLoading;
}

const day = (date) => date.toISOString().slice(0, 10);

async function myVideos() {
  const videos = [];
  let after = null;
  do {
    const { videos: got } = await gql(MINE, { me: session.user.id, after });
    videos.push(...got.edges.map((e) => e.node));
    after = got.pageInfo.hasNextPage ? got.pageInfo.endCursor : null;
  } while (after);
  return videos;
}

export async function mount(element) {
  element.querySelector(".placeholder")?.remove();
  const today = new Date();
  const from = el("input", { type: "date", id: "stats-from", value: day(new Date(today - 27 * DAY_MS)) });
  const to = el("input", { type: "date", id: "stats-to", value: day(today) });
  const picker = el("select", { id: "stats-video" });
  const status = el("p", { role: "status", "aria-live": "polite", className: "stats-status" });
  const totals = el("dl", { className: "stats-totals channel-totals" });
  const chosen = el("div", { className: "video-stats" });
  const form = el("form", { className: "row stats-range" },
    el("label", { htmlFor: "stats-from" }, "From"), from,
    el("label", { htmlFor: "stats-to" }, "To"), to,
    el("button", { type: "submit" }, "Show"));
  element.append(form,
    el("h3", {}, "Channel totals"), totals,
    el("div", { className: "row" }, el("label", { htmlFor: "stats-video" }, "Video"), picker),
    status, chosen);

  // The picked days in UTC, `to` included.
  const range = () => ({
    from: from.value ? `${from.value}T00:00:00Z` : null,
    to: to.value ? new Date(Date.parse(`${to.value}T00:00:00Z`) + DAY_MS).toISOString() : null,
  });

  async function channel() {
    const { channelStats: { totals: t } } = await gql(CHANNEL, range());
    totals.replaceChildren(...[["Views", t.views], ["Plays", t.plays],
      ["Unique viewers", t.uniques], ["Watch time", `${(t.watchTimeSeconds / 60).toFixed(1)} min`]]
      .flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, String(value))]));
  }

  async function video() {
    if (!picker.value) return;
    status.textContent = "Loading…";
    await loadChart();
    // A fresh box per pick: a slower answer for an earlier pick draws where none sees it.
    const box = el("div");
    chosen.replaceChildren(box);
    await renderStats(box, { videoId: picker.value, token: await token(), ...range(),
                                granularity: "DAY" });
    status.textContent = "";
  }

  const fail = (error) => { status.textContent = error.message; };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (from.value && to.value && from.value > to.value) {
      status.textContent = "The start date must come before the end date.";
      return;
    }
    channel().catch(fail);
    video().catch(fail);
  });
  picker.addEventListener("change", () => { video().catch(fail); });

  const videos = await myVideos();
  picker.replaceChildren(...videos.map((v) => el("option", { value: v.id }, v.title || "Untitled")));
  picker.disabled = !videos.length;
  if (!videos.length) status.textContent = "No videos yet: stats appear once one is watched.";
  await Promise.all([channel().catch(fail), video().catch(fail)]);
}
