// A video's stats for its creator, drawn with Chart.js (/assets/chart.umd.min.js, loaded
// by the page as a classic script before this module):
//
//   import { renderStats } from "/static/stats.js";
//   await renderStats(element, { videoId, token, from, to, granularity: "DAY" });
//
// It asks /graphql for videoStats and videoRetention (owner or admin only) and fills
// `element` with the totals, QoE, views over time, the retention curve, and the top
// countries and devices. Returns the data it drew; throws with the server's message.

const QUERY = `query($id: ID!, $from: DateTime, $to: DateTime, $g: Granularity!) {
  videoStats(videoId: $id, from: $from, to: $to, granularity: $g) {
    totals { plays views uniques watchTimeSeconds playingTimeSeconds rebufferRatio
             playbackFailureRate exitsBeforeVideoStart startupP50Ms startupP95Ms }
    series { start figures { views plays watchTimeSeconds } }
    breakdowns { dimension value views watchTimeSeconds }
  }
  videoRetention(videoId: $id, from: $from, to: $to) { views points chapters { title share } }
}`;

function el(tag, attrs = {}, text = "") {
  const node = document.createElement(tag);
  Object.entries(attrs).forEach(([k, v]) => node.setAttribute(k, v));
  if (text) node.textContent = text;
  return node;
}

function minutes(seconds) { return `${(seconds / 60).toFixed(1)} min`; }
function percent(share) { return `${(100 * share).toFixed(1)} %`; }
function ms(value) { return value == null ? "–" : `${Math.round(value)} ms`; }

function chart(parent, title, config) {
  const box = el("figure", { class: "stats-chart" });
  box.append(el("figcaption", {}, title));
  const canvas = el("canvas");
  box.append(canvas);
  parent.append(box);
  return new window.Chart(canvas, { ...config, options: { animation: false, ...config.options } });
}

export async function renderStats(element, { videoId, token, from = null, to = null,
                                             granularity = "DAY", endpoint = "/graphql" }) {
  const answer = await fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/json",
               ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query: QUERY, variables: { id: videoId, from, to, g: granularity } }),
  });
  const body = await answer.json();
  if (body.errors && body.errors.length) throw new Error(body.errors[0].message);
  const { videoStats: stats, videoRetention: retention } = body.data;
  const t = stats.totals;
  element.replaceChildren();

  const summary = el("dl", { class: "stats-totals" });
  [["Views", t.views], ["Plays", t.plays], ["Unique viewers", t.uniques],
   ["Watch time", minutes(t.watchTimeSeconds)], ["Playing time", minutes(t.playingTimeSeconds)],
   ["Startup (p50 / p95)", `${ms(t.startupP50Ms)} / ${ms(t.startupP95Ms)}`],
   ["Rebuffer ratio", percent(t.rebufferRatio)],
   ["Playback failures", percent(t.playbackFailureRate)],
   ["Exits before start", t.exitsBeforeVideoStart]].forEach(([name, value]) => {
    summary.append(el("dt", {}, name), el("dd", {}, String(value)));
  });
  element.append(summary);

  const charts = [];
  charts.push(chart(element, "Views over time", {
    type: "line",
    data: {
      labels: stats.series.map((b) => new Date(b.start).toLocaleString()),
      datasets: [{ label: "views", data: stats.series.map((b) => b.figures.views) },
                 { label: "plays", data: stats.series.map((b) => b.figures.plays) }],
    },
  }));
  charts.push(chart(element, `Retention (${retention.views} views)`, {
    type: "line",
    data: {
      labels: retention.points.map((_, i) => `${i}%`),
      datasets: [{ label: "still watching", data: retention.points.map((p) => 100 * p),
                   fill: true, pointRadius: 0 }],
    },
    options: { scales: { y: { min: 0, max: 100 } } },
  }));
  for (const [dimension, title, type] of [["country", "Top countries", "bar"],
                                          ["device", "Devices", "doughnut"],
                                          ["browser", "Browsers", "doughnut"]]) {
    const slices = stats.breakdowns.filter((s) => s.dimension === dimension);
    charts.push(chart(element, title, {
      type,
      data: { labels: slices.map((s) => s.value),
              datasets: [{ label: "views", data: slices.map((s) => s.views) }] },
    }));
  }
  return { stats, retention, charts };
}
