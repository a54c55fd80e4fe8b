// The run page's side panel: one node's state, attempts, error, outputs, timings and device.
import { fill, formatSeconds, formatTime, h, jsonBlock, link, statusBadge } from "../lib/dom.js";

function row(label, ...value) {
  return [h("dt", {}, label), h("dd", {}, ...value)];
}

/** What happened to the node, attempt by attempt, from the run's events. */
function history(events) {
  const lines = events.map((event) => {
    switch (event.type) {
      case "node_executing":
        return `attempt ${event.attempt} started`;
      case "node_retrying":
        return `attempt ${event.attempt - 1} failed: ${event.error_message}; retrying in ${event.delay_ms} ms`;
      case "node_completed":
        return `completed in ${formatSeconds(event.execution_time)}`;
      case "node_failed":
        return `failed (${event.error_type}): ${event.error_message}`;
      default:
        return null;
    }
  });
  return events
    .map(
      (event, index) =>
        lines[index] && h("li", {}, h("time", {}, formatTime(event.timestamp)), " ", lines[index]),
    )
    .filter(Boolean);
}

/**
 * Renders the details of `nodeId` into `panel`.
 * @param {HTMLElement} panel
 * @param {{node: any, spec: any, progress?: {progress: number, message: string}, events: any[]}} view
 */
export function renderNodeDetails(panel, { node, spec, progress, events }) {
  if (!node) {
    fill(panel, h("p", { class: "muted" }, "Select a node in the graph to see its details."));
    return;
  }
  const error = node.error
    ? h(
        "section",
        { class: "node-error", id: "node-error", role: "alert" },
        h("h3", {}, "Error"),
        h("p", {}, h("strong", {}, node.error.message)),
        h("p", { class: "muted" }, node.error.code),
        node.error.details && Object.keys(node.error.details).length > 0 && jsonBlock(node.error.details),
      )
    : null;
  const running = node.status === "running" && progress;
  const steps = history(events);
  fill(
    panel,
    h("h2", {}, h("code", {}, node.node_id), " ", statusBadge(node.status)),
    h(
      "dl",
      { class: "facts" },
      row("Function", h("code", {}, node.function_id)),
      row("Device", link("/devices", h("code", {}, node.device_id))),
      row("Attempts", String(node.attempts)),
      row("Started", formatTime(node.started_at)),
      row("Finished", formatTime(node.finished_at)),
      row("Took", formatSeconds(node.execution_time)),
      running && row("Progress", `${Math.round(progress.progress * 100)}% ${progress.message ?? ""}`),
    ),
    error,
    node.outputs && [h("h3", {}, "Outputs"), jsonBlock(node.outputs)],
    spec && [h("h3", {}, "Params"), jsonBlock(spec.params ?? {})],
    steps.length > 0 && [h("h3", {}, "History"), h("ol", { class: "history" }, steps)],
  );
}
