// One run: its DAG with each node's state changing live (WebSocket /ws with after=), the selected
// node's details, the run's events, and the pause, resume, retry and cancel buttons, a held node's
// recovery and a waiting approval's decision (for operators: a viewer would only be refused, see
// lib/me.js).
import { api, errorView } from "../lib/api.js";
import { drawDag } from "../lib/dag.js";
import { fill, formatSeconds, formatTime, h, link, statusBadge } from "../lib/dom.js";
import { LiveEvents } from "../lib/live.js";
import { canChange } from "../lib/me.js";
import { nodeWork } from "../lib/node-kind.js";
import { renderNodeDetails } from "./run-details.js";
import { largeRunPanel } from "./run-nodes.js";

const nodeStatusOf = {
  node_executing: "running",
  node_completed: "completed",
  node_retrying: "queued",
  node_failed: "failed",
  node_held: "held",
  node_skipped: "skipped",
  node_waiting: "waiting",
};
/** The events list shows at most this many, the newest; the graph and details use them all. */
const maxEventsShown = 1000;
/** While events flow, the run is re-read at most this often: the graph already moves with them. */
const refreshEveryMs = 250;

const runStatusOf = {
  pipeline_started: "running",
  pipeline_resumed: "running",
  pipeline_paused: "paused",
  pipeline_held: "held",
  pipeline_completed: "completed",
  pipeline_error: "failed",
  pipeline_cancelled: "cancelled",
};

function eventSummary(event) {
  switch (event.type) {
    case "node_executing":
      return `${nodeWork(event)}, attempt ${event.attempt}`;
    case "node_waiting":
      return `approval: ${event.message}`;
    case "node_completed":
      return event.completed_by === "operator"
        ? `by a person, after ${formatSeconds(event.execution_time)}`
        : `in ${formatSeconds(event.execution_time)}`;
    case "node_retrying":
      return `${event.error_message}; retry in ${event.delay_ms} ms`;
    case "pipeline_paused":
      return event.mode === "immediate" ? "its running commands were stopped" : "its running nodes finished";
    case "pipeline_resumed":
      return event.reason === "unpaused" ? "after a pause" : "";
    case "node_failed":
    case "node_held":
    case "pipeline_error":
      return event.error_message;
    case "pipeline_completed":
      return `${event.nodes_executed} nodes in ${formatSeconds(event.execution_time)}`;
    default:
      return "";
  }
}

export function runPage(main, { params, query, signal, onLeave }) {
  const [runId] = params;
  document.title = `Run ${runId} · Rigflow`;
  // nodeEvents: each node's events (its history in the details), so showing a node reads only its own.
  const state = {
    run: null,
    graph: null,
    dag: null,
    // A run of over 1,000 nodes is not drawn: its counts and a page of its nodes instead (run-nodes.js).
    large: null,
    selected: query.get("node"),
    nodeEvents: new Map(),
    eventCount: 0,
    progress: {},
  };
  const head = h("div", { class: "page-head" }, h("h1", {}, "Run ", h("code", {}, runId)));
  const liveState = h("span", { class: "live-state", id: "live-state" });
  const summary = h("div", { class: "run-summary", id: "run-summary" });
  const message = h("div", { class: "action-message", id: "action-message" });
  // Not built at all for a viewer: null, and everything below that touches them checks.
  const operator = canChange();
  const retry = operator ? h("button", { id: "retry", disabled: true }, "Retry") : null;
  const pause = operator ? h("button", { id: "pause", disabled: true }, "Pause") : null;
  // Checked, a pause stops the running commands through their drivers rather than let them finish.
  const pauseNow = operator ? h("input", { type: "checkbox", id: "pause-now" }) : null;
  const pauseNowLabel = operator
    ? h("label", { for: "pause-now", class: "inline" }, pauseNow, " stop running commands now")
    : null;
  const resume = operator ? h("button", { id: "resume", disabled: true }, "Resume") : null;
  const cancel = operator ? h("button", { id: "cancel", class: "danger", disabled: true }, "Cancel") : null;
  const dagBox = h("div", { class: "dag-box-outer", id: "dag" }, h("p", { class: "muted" }, "Loading…"));
  const details = h("aside", { class: "details", id: "node-details" });
  const log = h("ol", { class: "events", id: "events", reversed: true });
  const logNote = h("p", { class: "muted", id: "events-note" });
  head.append(liveState);
  main.append(
    head,
    summary,
    h(
      "div",
      { class: "actions" },
      pause,
      pauseNowLabel,
      resume,
      retry,
      cancel,
      h("a", { href: `/admin/queues/queue/runs/${encodeURIComponent(runId)}` }, "Run job in Bull-board"),
    ),
    message,
    h("div", { class: "run-layout" }, dagBox, details),
    h("h2", {}, "Events"),
    logNote,
    log,
  );

  const showRunStatus = (status) => {
    const badge = document.getElementById("run-status");
    if (badge) badge.replaceWith(Object.assign(statusBadge(status), { id: "run-status" }));
    if (retry) retry.disabled = !["failed", "cancelled"].includes(status);
    if (cancel) cancel.disabled = !["queued", "running", "paused", "held"].includes(status);
    if (pause) pause.disabled = !["queued", "running", "held"].includes(status);
    if (resume) resume.disabled = status !== "paused";
  };
  const showDetails = () => {
    const node = state.selected
      ? (state.run?.nodes?.[state.selected] ?? state.large?.node(state.selected))
      : undefined;
    const spec = state.graph?.nodes.find((n) => n.node_id === state.selected);
    const events = state.nodeEvents.get(state.selected) ?? [];
    renderNodeDetails(details, {
      node,
      spec,
      progress: state.progress[state.selected],
      events,
      onRecover: operator ? recover : null,
      onDecide: operator ? decide : null,
    });
  };
  const select = (nodeId) => {
    state.selected = nodeId;
    state.dag?.select(nodeId);
    const url = new URL(location.href);
    url.searchParams.set("node", nodeId);
    history.replaceState(null, "", url);
    showDetails();
  };
  const applySnapshot = (run, withStatuses) => {
    state.run = run;
    const error = run.error;
    fill(
      summary,
      h(
        "dl",
        { class: "facts inline" },
        h("dt", {}, "Status"),
        h("dd", {}, Object.assign(statusBadge(run.status), { id: "run-status" })),
        h("dt", {}, "Pipeline"),
        h(
          "dd",
          {},
          link(`/pipelines/${encodeURIComponent(run.pipeline_id)}`, run.pipeline_id),
          run.pipeline_version ? ` v${run.pipeline_version}` : "",
        ),
        h("dt", {}, "Created"),
        h("dd", {}, formatTime(run.created_at)),
        h("dt", {}, "Finished"),
        h("dd", {}, formatTime(run.finished_at)),
        h("dt", {}, "Took"),
        h("dd", {}, formatSeconds(run.execution_time)),
      ),
      error &&
        h(
          "p",
          { class: "error", id: "run-error" },
          `${error.code}${error.node_id ? ` at ${error.node_id}` : ""}: ${error.message}`,
        ),
    );
    showRunStatus(run.status);
    if (state.large) {
      state.large.showCounts(run);
      if (withStatuses) void state.large.refresh();
    } else if (withStatuses) {
      for (const node of Object.values(run.nodes ?? {})) {
        state.dag?.setStatus(node.node_id, node.status, node.attempts > 1 ? `attempt ${node.attempts}` : "");
      }
    }
    showDetails();
  };

  // Snapshots are fetched one at a time; one that events overtook (`dirty`: an event arrived while
  // it was read) is not shown but read again, throttled, so the graph never steps back to an older
  // state. Overtaken three times running (events never stop), it is shown without node statuses,
  // which the events keep up to date.
  let fetching = false;
  let dirty = false;
  let overtaken = 0;
  const refresh = async () => {
    if (fetching) {
      dirty = true;
      return;
    }
    fetching = true;
    dirty = false;
    try {
      const run = await api(`/api/runs/${encodeURIComponent(runId)}`);
      if (signal.aborted) return;
      if (!dirty) {
        overtaken = 0;
        applySnapshot(run, true);
      } else if (++overtaken >= 3) {
        overtaken = 0;
        applySnapshot(run, false);
      }
    } catch (error) {
      if (!signal.aborted) fill(message, errorView(error, "Refreshing the run"));
    } finally {
      fetching = false;
      if (dirty && !signal.aborted) refreshSoon();
    }
  };

  // At most one re-read per refreshEveryMs while events flow; the first one at once.
  let lastRefresh = 0;
  let refreshTimer = undefined;
  const refreshSoon = () => {
    if (refreshTimer !== undefined) return;
    const wait = Math.max(0, lastRefresh + refreshEveryMs - Date.now());
    refreshTimer = setTimeout(() => {
      refreshTimer = undefined;
      lastRefresh = Date.now();
      void refresh();
    }, wait);
  };
  onLeave(() => clearTimeout(refreshTimer));

  // The events list is drawn once a frame, however many events came meanwhile (a replay brings a
  // run's whole history at once), and only the newest maxEventsShown of them.
  let waiting = [];
  let frame = 0;
  const eventItem = (event) =>
    h(
      "li",
      { "data-type": event.type, "data-node-id": event.node_id ?? undefined },
      h("time", {}, formatTime(event.timestamp)),
      " ",
      h("strong", {}, event.type),
      event.node_id ? [" ", h("code", {}, event.node_id)] : "",
      " ",
      eventSummary(event),
    );
  const drawEvents = () => {
    frame = 0;
    log.prepend(...waiting.slice(-maxEventsShown).reverse().map(eventItem));
    waiting = [];
    // The list numbers its items from the newest down; past the cap, the oldest shown ones go.
    log.setAttribute("start", String(state.eventCount));
    while (log.childElementCount > maxEventsShown) log.lastElementChild?.remove();
    logNote.textContent =
      state.eventCount > maxEventsShown
        ? `Showing the newest ${maxEventsShown.toLocaleString("en")} of ${state.eventCount.toLocaleString("en")} events; GET /api/runs/${runId}/events pages through them all.`
        : "";
  };
  const showEvent = (event) => {
    state.eventCount += 1;
    waiting.push(event);
    frame ||= requestAnimationFrame(drawEvents);
  };
  onLeave(() => cancelAnimationFrame(frame));

  const applyEvent = (event) => {
    if (event.node_id && event.type === "node_progress") {
      state.progress[event.node_id] = event;
      state.dag?.setProgress(event.node_id, event.progress);
      if (event.node_id === state.selected) showDetails();
      return;
    }
    if (event.node_id) {
      const list = state.nodeEvents.get(event.node_id) ?? [];
      list.push(event);
      state.nodeEvents.set(event.node_id, list);
    }
    const nodeStatus = nodeStatusOf[event.type];
    if (nodeStatus && event.node_id) {
      const note = event.type === "node_executing" && event.attempt > 1 ? `attempt ${event.attempt}` : "";
      state.dag?.setStatus(event.node_id, nodeStatus, note);
      state.large?.setStatus(event.node_id, nodeStatus);
    }
    if (runStatusOf[event.type]) showRunStatus(runStatusOf[event.type]);
    showEvent(event);
    if (fetching) dirty = true; // the read in flight is older than this event
    refreshSoon();
  };

  const actions = {
    retry: { done: "Retry requested", doing: "Retrying the run" },
    cancel: { done: "Cancel requested", doing: "Cancelling the run" },
    pause: { done: "Pause requested", doing: "Pausing the run" },
    resume: { done: "Resumed", doing: "Resuming the run" },
  };
  const act = async (action, body) => {
    retry.disabled = cancel.disabled = pause.disabled = resume.disabled = true;
    fill(message);
    try {
      await api(`/api/runs/${encodeURIComponent(runId)}/${action}`, { method: "POST", body });
      // The run's status moves on from here (the pill above shows it live): say only what was done.
      const at = new Date().toLocaleTimeString();
      fill(message, h("p", { class: "ok" }, `${actions[action].done} at ${at}.`));
    } catch (error) {
      fill(message, errorView(error, actions[action].doing));
    }
    void refresh();
  };
  // A held node's decision, from its details panel.
  async function recover(nodeId, body) {
    fill(message);
    try {
      await api(`/api/runs/${encodeURIComponent(runId)}/nodes/${encodeURIComponent(nodeId)}/recover`, {
        method: "POST",
        body,
      });
      fill(
        message,
        h(
          "p",
          { class: "ok" },
          `Recovery of ${nodeId} (${body.action}) requested at ${new Date().toLocaleTimeString()}.`,
        ),
      );
    } catch (error) {
      fill(message, errorView(error, `Recovering ${nodeId}`));
    }
    void refresh();
  }
  // A waiting approval's decision, from its details panel: resolves to the API's error (the form
  // marks the output it names), or null.
  const decisions = {
    approve: { done: "Approved", doing: "Approving" },
    reject: { done: "Rejected", doing: "Rejecting" },
  };
  async function decide(nodeId, decision, body) {
    fill(message);
    const path = `/api/runs/${encodeURIComponent(runId)}/nodes/${encodeURIComponent(nodeId)}/${decision}`;
    try {
      await api(path, { method: "POST", body });
      const at = new Date().toLocaleTimeString();
      fill(message, h("p", { class: "ok" }, `${decisions[decision].done} ${nodeId} at ${at}.`));
      return null;
    } catch (error) {
      fill(message, errorView(error, `${decisions[decision].doing} ${nodeId}`));
      return error;
    } finally {
      void refresh();
    }
  }
  retry?.addEventListener("click", () => void act("retry"));
  cancel?.addEventListener("click", () => void act("cancel"));
  pause?.addEventListener(
    "click",
    () => void act("pause", { mode: pauseNow.checked ? "immediate" : "deferred" }),
  );
  resume?.addEventListener("click", () => void act("resume"));

  // A large run's graph is neither fetched nor drawn: laying out thousands of nodes would stall the page.
  const drawRun = async (run) => {
    if (run.nodes === null) {
      state.large = largeRunPanel(dagBox, {
        runId,
        onSelect: (nodeId) => {
          state.selected = nodeId;
          showDetails();
        },
        onError: (error) => fill(message, errorView(error, "Reading the run's nodes")),
      });
      return;
    }
    const graph = await api(`/dashboard/api/runs/${encodeURIComponent(runId)}/graph`);
    if (signal.aborted) return;
    state.graph = graph;
    state.dag = drawDag(dagBox, graph, { onSelect: select });
    state.selected ??= graph.nodes[0]?.node_id ?? null;
    if (state.selected) state.dag.select(state.selected);
  };

  api(`/api/runs/${encodeURIComponent(runId)}`)
    .then(async (run) => {
      if (signal.aborted) return;
      await drawRun(run);
      if (signal.aborted) return;
      applySnapshot(run, true);
      const live = new LiveEvents({
        runId,
        onEvent: applyEvent,
        onState: (value) => (liveState.textContent = value === "live" ? "● live" : value),
        onError: (error) =>
          fill(message, errorView({ message: error.message, code: error.code }, "Following the run")),
      }).start();
      onLeave(() => live.stop());
    })
    .catch((error) => {
      if (!signal.aborted) main.replaceChildren(head, errorView(error, `Loading run ${runId}`));
    });
}
