// The runs list: newest first, filtered by status and pipeline, refreshed when a run starts or ends.
import { api, errorView } from "../lib/api.js";
import { fill, formatTime, h, link, statusBadge } from "../lib/dom.js";
import { LiveEvents } from "../lib/live.js";
import { canChange } from "../lib/me.js";
import { navigate } from "../lib/router.js";

const pageSize = 50;
/** The most rows GET /api/runs gives at once. */
const maxLimit = 200;
// "waiting" is no run status (such a run is running) but a filter of its own: the runs with an
// approval waiting for a person.
const statuses = ["queued", "running", "paused", "held", "waiting", "completed", "failed", "cancelled"];
const runEvents = new Set([
  "pipeline_started",
  "pipeline_completed",
  "pipeline_error",
  "pipeline_cancelled",
  "pipeline_resumed",
  "pipeline_paused",
  "pipeline_held",
  // A run starts waiting for a person: it joins the waiting ones.
  "node_waiting",
]);

/** Whether an event may change which runs the list shows, or their status. */
function changesTheList(event) {
  // A person's completion (an approval approved, a held node completed) may end a run's wait.
  return runEvents.has(event.type) || (event.type === "node_completed" && event.completed_by === "operator");
}

function filterForm(query) {
  const status = h(
    "select",
    { name: "status", id: "filter-status" },
    h("option", { value: "" }, "any status"),
    statuses.map((value) => h("option", { value, selected: query.get("status") === value }, value)),
  );
  const pipeline = h("input", {
    name: "pipeline_id",
    id: "filter-pipeline",
    list: "pipeline-ids",
    placeholder: "any pipeline",
    value: query.get("pipeline_id") ?? "",
  });
  const form = h(
    "form",
    { class: "filters" },
    h("label", { for: "filter-status" }, "Status "),
    status,
    h("label", { for: "filter-pipeline" }, " Pipeline "),
    pipeline,
    h("datalist", { id: "pipeline-ids" }),
    h("button", { type: "submit" }, "Filter"),
  );
  const apply = (event) => {
    event?.preventDefault();
    const params = new URLSearchParams();
    if (status.value) params.set("status", status.value);
    if (pipeline.value.trim()) params.set("pipeline_id", pipeline.value.trim());
    navigate(`/runs${params.size ? `?${params}` : ""}`, { replace: true });
  };
  form.addEventListener("submit", apply);
  status.addEventListener("change", apply);
  return form;
}

function runRow(run) {
  return h(
    "tr",
    { "data-run-id": run.run_id },
    h("td", {}, link(`/runs/${encodeURIComponent(run.run_id)}`, h("code", {}, run.run_id))),
    h(
      "td",
      {},
      run.pipeline_id,
      run.pipeline_version ? h("span", { class: "muted" }, ` v${run.pipeline_version}`) : "",
    ),
    h("td", {}, statusBadge(run.status)),
    h("td", {}, formatTime(run.created_at)),
    h("td", {}, formatTime(run.finished_at)),
  );
}

export function runsPage(main, { query, signal, onLeave }) {
  document.title = "Runs · Rigflow";
  const body = h("tbody");
  const more = h("div", { class: "more" });
  const status = h("div", { class: "page-status" });
  main.append(
    h(
      "div",
      { class: "page-head" },
      h("h1", {}, "Runs"),
      h("span", { class: "live-state", id: "live-state" }),
    ),
    filterForm(query),
    status,
    h(
      "table",
      { class: "list", id: "runs" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Run", "Pipeline", "Status", "Created", "Finished"].map((t) => h("th", {}, t)),
        ),
      ),
      body,
    ),
    more,
  );
  const base = new URLSearchParams();
  for (const name of ["status", "pipeline_id"]) if (query.get(name)) base.set(name, query.get(name));

  // What the table holds: `shown` rows, newest first, and the cursor of the page after them. A live
  // refresh reads again as many rows as are shown (the API gives at most maxLimit at once), so rows
  // loaded with "Load more" stay. Each reload takes a new generation; an answer from an older one
  // (overtaken by a newer reload) is dropped, so overlapping loads cannot undo each other.
  let shown = 0;
  let nextCursor = null;
  let generation = 0;
  let loadingMore = false;
  let paused = false;

  const showMore = () => {
    fill(
      more,
      nextCursor &&
        h(
          "button",
          { id: "load-more", disabled: loadingMore, onclick: () => void loadMore() },
          loadingMore ? "Loading…" : "Load more",
        ),
      paused &&
        h(
          "p",
          { class: "muted", id: "live-paused" },
          `Live refresh is paused while over ${maxLimit} runs are shown. `,
          h("button", { onclick: () => void reload(true) }, "Show the newest again"),
        ),
    );
  };

  const read = (limit, cursor) => {
    const params = new URLSearchParams(base);
    params.set("limit", String(limit));
    if (cursor) params.set("cursor", cursor);
    return api(`/api/runs?${params}`);
  };

  /** The first rows again (as many as shown, at least a page); `fresh`: back to one page. */
  async function reload(fresh = false) {
    const mine = ++generation;
    const limit = fresh ? pageSize : Math.min(maxLimit, Math.max(pageSize, shown));
    try {
      const page = await read(limit);
      if (signal.aborted || mine !== generation) return;
      fill(status);
      body.replaceChildren(...page.runs.map(runRow));
      shown = page.runs.length;
      nextCursor = page.next_cursor;
      paused = false;
      if (page.runs.length === 0) {
        // A viewer cannot start one: the hint would point at a button they do not have.
        status.append(
          h(
            "p",
            { class: "empty" },
            canChange() ? "No runs yet. Start one from the Pipelines page." : "No runs yet.",
          ),
        );
      }
    } catch (error) {
      if (!signal.aborted && mine === generation) fill(status, errorView(error, "Loading the runs"));
    }
    if (!signal.aborted && mine === generation) showMore();
  }

  /** The next page, appended; one at a time (the button is disabled meanwhile). */
  async function loadMore() {
    if (loadingMore || !nextCursor) return;
    loadingMore = true;
    showMore();
    const mine = generation;
    try {
      const page = await read(pageSize, nextCursor);
      if (signal.aborted || mine !== generation) return; // a reload replaced the rows meanwhile
      fill(status);
      body.append(...page.runs.map(runRow));
      shown += page.runs.length;
      nextCursor = page.next_cursor;
    } catch (error) {
      if (!signal.aborted && mine === generation) fill(status, errorView(error, "Loading more runs"));
    } finally {
      loadingMore = false;
      if (!signal.aborted) showMore();
    }
  }

  void reload();
  api("/api/pipelines")
    .then(({ pipelines }) =>
      document
        .getElementById("pipeline-ids")
        ?.replaceChildren(...pipelines.map((p) => h("option", { value: p.id }, p.name))),
    )
    .catch(() => undefined);

  // A run starting or ending reloads the list (a burst of them, once). Past maxLimit rows a reload
  // could not keep them all, so live refresh pauses instead and says so.
  let pending = undefined;
  const refreshSoon = () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = undefined;
      if (shown > maxLimit) {
        paused = true;
        showMore();
      } else void reload();
    }, 300);
  };
  let wasLive = false;
  const live = new LiveEvents({
    onEvent: (event) => {
      if (changesTheList(event)) refreshSoon();
    },
    onState: (state) => {
      const element = document.getElementById("live-state");
      if (element) element.textContent = state === "live" ? "● live" : state;
      // Back after a drop: runs may have started or ended unseen meanwhile.
      if (state === "live" && wasLive) refreshSoon();
      if (state === "live") wasLive = true;
    },
  }).start();
  onLeave(() => {
    live.stop();
    clearTimeout(pending);
  });
}
