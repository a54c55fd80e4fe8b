// The runs list: newest first, filtered by status and pipeline, refreshed when a run starts or ends.
import { api, errorView } from "../lib/api.js";
import { fill, formatTime, h, link, statusBadge } from "../lib/dom.js";
import { LiveEvents } from "../lib/live.js";
import { navigate } from "../lib/router.js";

const statuses = ["queued", "running", "completed", "failed", "cancelled"];
const runEvents = new Set([
  "pipeline_started",
  "pipeline_completed",
  "pipeline_error",
  "pipeline_cancelled",
  "pipeline_resumed",
]);

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

  async function load(cursor) {
    const params = new URLSearchParams(base);
    params.set("limit", "50");
    if (cursor) params.set("cursor", cursor);
    try {
      const page = await api(`/api/runs?${params}`);
      if (signal.aborted) return;
      fill(status);
      if (!cursor) body.replaceChildren();
      body.append(...page.runs.map(runRow));
      if (!cursor && page.runs.length === 0) {
        status.append(h("p", { class: "empty" }, "No runs yet. Start one from the Pipelines page."));
      }
      fill(more, page.next_cursor && h("button", { onclick: () => load(page.next_cursor) }, "Load more"));
    } catch (error) {
      if (!signal.aborted) fill(status, errorView(error, "Loading the runs"));
    }
  }
  void load();
  api("/api/pipelines")
    .then(({ pipelines }) =>
      document
        .getElementById("pipeline-ids")
        ?.replaceChildren(...pipelines.map((p) => h("option", { value: p.id }, p.name))),
    )
    .catch(() => undefined);

  let pending = undefined;
  const live = new LiveEvents({
    onEvent: (event) => {
      if (!runEvents.has(event.type) || pending) return;
      pending = setTimeout(() => {
        pending = undefined;
        void load();
      }, 300);
    },
    onState: (state) => {
      const element = document.getElementById("live-state");
      if (element) element.textContent = state === "live" ? "● live" : state;
    },
  }).start();
  onLeave(() => {
    live.stop();
    clearTimeout(pending);
  });
}
