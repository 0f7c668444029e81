// The studio's Job board panel (admins): transcode jobs newest first, filtered by state,
// each with its stage, progress, ETA and tries (the last error shown); Retry on failed or
// cancelled jobs, Cancel on queued or running ones, "Retry all failed", "Load more" over
// the connection. While any job shown is queued or running it asks again every 5 s.
import { gql } from "/static/session.js";
import { clock, el } from "/static/dom.js";

const FIELDS = `id videoId ownerId state stage percent etaSeconds error runs
  attempts { task retry outcome error }`;
const JOBS = `query($filter: JobFilter, $after: String) {
  jobs(filter: $filter, first: 25, after: $after) {
    nodes { ${FIELDS} } endCursor hasNextPage } }`;
const RETRY = `mutation($id: ID!) { retryJob(id: $id) { ${FIELDS} } }`;
const CANCEL = `mutation($id: ID!) { cancelJob(id: $id) { ${FIELDS} } }`;
const RETRY_FAILED = "mutation { retryFailedJobs }";
const STATES = ["queued", "running", "done", "failed", "cancelled"];
const LIVE = new Set(["queued", "running"]);
const POLL_MS = 5_000;

const count = (n, noun) => `${n} ${noun}${n === 1 ? "" : "s"}`;

// The error of the last try that had one (the job's own error first).
function lastError(job) {
  if (job.error) return job.error;
  const tried = job.attempts.filter((a) => a.error);
  return tried.length ? tried[tried.length - 1].error : "";
}

function board() {
  const status = el("p", { role: "status", "aria-live": "polite", className: "jobs-status" });
  const filter = el("select", { id: "jobs-filter" },
    el("option", { value: "" }, "All"),
    ...STATES.map((state) => el("option", { value: state }, state)));
  const body = el("tbody");
  const more = el("button", { type: "button", hidden: true }, "Load more");
  const retryAll = el("button", { type: "button" }, "Retry all failed");
  let after = null;
  let timer = null;
  const pending = new Map(); // job id -> video id, for jobs acted on until they settle

  const say = (text) => { status.textContent = text; };
  const failed = (error) => say(error.message);

  const act = async (button, query, id) => {
    button.disabled = true;
    try {
      const data = await gql(query, { id });
      const job = data.retryJob || data.cancelJob;
      if (LIVE.has(job.state)) pending.set(job.id, job.videoId);
      const old = body.querySelector(`tr[data-id="${CSS.escape(job.id)}"]`);
      old?.replaceWith(row(job));
      say(`Job ${job.id} is ${job.state}.`);
      schedule();
    } catch (error) {
      button.disabled = false;
      failed(error);
    }
  };

  const row = (job) => {
    const percent = Math.round(job.percent);
    const error = lastError(job);
    const actions = el("td", { className: "job-actions" });
    if (job.state === "failed" || job.state === "cancelled") {
      const retry = el("button", { type: "button", "aria-label": `Retry job ${job.id}` }, "Retry");
      retry.addEventListener("click", () => act(retry, RETRY, job.id));
      actions.append(retry);
    }
    if (LIVE.has(job.state)) {
      const cancel = el("button", { type: "button", "aria-label": `Cancel job ${job.id}` }, "Cancel");
      cancel.addEventListener("click", () => act(cancel, CANCEL, job.id));
      actions.append(cancel);
    }
    return el("tr", { className: `job job-${job.state}`,
                      dataset: { id: job.id, video: job.videoId, state: job.state,
                                runs: String(job.runs) } },
      el("td", {}, el("a", { href: `/watch/${encodeURIComponent(job.videoId)}` }, job.videoId)),
      el("td", {}, job.ownerId),
      el("td", { className: "job-state" }, job.state),
      el("td", {}, job.stage),
      el("td", { className: "job-progress" },
        el("progress", { max: 100, value: percent, "aria-label": `Progress of job ${job.id}` }),
        el("span", {}, `${percent}%`)),
      el("td", {}, job.etaSeconds === null ? "—" : clock(job.etaSeconds)),
      el("td", { className: "job-runs" },
        el("span", {}, `${count(job.runs, "run")}, ${count(job.attempts.length, "attempt")}`),
        error ? el("p", { className: "error" }, error) : null),
      actions);
  };

  // Ask again while something moves; stop when all shown have settled. A job retried or
  // cancelled here counts until it settles even if the filter hides it meanwhile (a
  // retried job leaves the "failed" view while queued and comes back if it fails again).
  const schedule = () => {
    clearTimeout(timer);
    const moving = pending.size || [...body.rows].some((tr) => LIVE.has(tr.dataset.state));
    timer = moving ? setTimeout(() => { reload().catch(failed).finally(schedule); }, POLL_MS) : null;
  };
  const settle = async () => {
    for (const [id, video] of pending) {
      const { jobs: found } = await gql(JOBS, { filter: { video }, after: null });
      const job = found.nodes.find((node) => node.id === id);
      if (!job || !LIVE.has(job.state)) pending.delete(id);
    }
  };

  const vars = (cursor) => ({ filter: filter.value ? { status: filter.value } : null, after: cursor });
  const show = (page, { append }) => {
    const rows = page.nodes.map(row);
    if (append) body.append(...rows); else body.replaceChildren(...rows);
    after = page.endCursor;
    more.hidden = !page.hasNextPage;
    if (!body.rows.length) say("No jobs.");
    else if (status.textContent === "No jobs.") say("");
    schedule();
  };
  const next = async () => {
    show((await gql(JOBS, vars(after))).jobs, { append: true });
  };
  // The pages shown so far again, from the top (so "Load more" rows refresh too).
  const reload = async () => {
    await settle();
    const wanted = Math.max(body.rows.length, 1);
    const nodes = [];
    let cursor = null;
    let page;
    do {
      page = (await gql(JOBS, vars(cursor))).jobs;
      nodes.push(...page.nodes);
      cursor = page.endCursor;
    } while (page.hasNextPage && nodes.length < wanted);
    show({ ...page, nodes }, { append: false });
  };

  filter.addEventListener("change", () => { say(""); reload().catch(failed); });
  more.addEventListener("click", () => {
    more.disabled = true;
    next().catch(failed).finally(() => { more.disabled = false; });
  });
  retryAll.addEventListener("click", async () => {
    retryAll.disabled = true;
    try {
      const { retryFailedJobs: ids } = await gql(RETRY_FAILED);
      for (const tr of body.rows) {
        if (ids.includes(tr.dataset.id)) pending.set(tr.dataset.id, tr.dataset.video);
      }
      say(ids.length ? `${count(ids.length, "failed job")} queued again.` : "No failed jobs to retry.");
      await reload();
    } catch (error) {
      failed(error);
    } finally {
      retryAll.disabled = false;
    }
  });

  const head = ["Video", "Owner", "State", "Stage", "Progress", "ETA", "Tries", "Actions"];
  const root = el("div", { className: "job-board" },
    el("div", { className: "row" },
      el("label", { htmlFor: "jobs-filter" }, "Show"), filter, retryAll),
    status,
    el("div", { className: "table-scroll", tabIndex: 0, role: "region", "aria-label": "Jobs table" },
      el("table", {},
        el("caption", {}, "Transcode jobs, newest first"),
        el("thead", {}, el("tr", {}, ...head.map((name) => el("th", { scope: "col" }, name)))),
        body)),
    more);
  return { root, start: () => next() };
}

export async function mount(element) {
  element.querySelector(".placeholder")?.remove();
  const jobs = board();
  element.append(jobs.root);
  await jobs.start();
}
