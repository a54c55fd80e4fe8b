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
      case "node_held":
        return `held (${event.error_type}): ${event.error_message}`;
      case "node_skipped":
        return "skipped by a person";
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

/** A value as a person typed it: JSON where it reads as such (42, true, "x"), else the text itself. */
function typedValue(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * What a person decides for a held node: run it again, go on without it, or complete it with
 * outputs, one field per output of its function.
 */
function recoverForm(node, spec, onRecover) {
  const fields = (spec?.outputs ?? []).map((name) =>
    h(
      "label",
      { class: "output-field" },
      h("code", {}, name),
      " ",
      h("input", { type: "text", name, "data-output": name, placeholder: "JSON or text" }),
    ),
  );
  const form = h(
    "section",
    { class: "recover", id: "recover" },
    h("h3", {}, "This node is held"),
    h("p", { class: "muted" }, "Check the device, then decide what follows."),
    h("button", { id: "recover-retry", type: "button" }, "Retry"),
    " ",
    h("button", { id: "recover-skip", type: "button" }, "Skip"),
    h("h4", {}, "Or complete it with these outputs"),
    ...fields,
    h("button", { id: "recover-complete", type: "button" }, "Complete"),
  );
  form
    .querySelector("#recover-retry")
    .addEventListener("click", () => onRecover(node.node_id, { action: "retry" }));
  form
    .querySelector("#recover-skip")
    .addEventListener("click", () => onRecover(node.node_id, { action: "skip" }));
  form.querySelector("#recover-complete").addEventListener("click", () => {
    const outputs = {};
    for (const input of form.querySelectorAll("input[data-output]")) {
      if (input.value.trim() !== "") outputs[input.dataset.output] = typedValue(input.value.trim());
    }
    onRecover(node.node_id, { action: "complete", outputs });
  });
  return form;
}

/**
 * Renders the details of `nodeId` into `panel`.
 * @param {HTMLElement} panel
 * @param {{node: any, spec: any, progress?: {progress: number, message: string}, events: any[], onRecover?: Function | null}} view
 */
export function renderNodeDetails(panel, { node, spec, progress, events, onRecover = null }) {
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
  // The panel is drawn again as events arrive: what a person has typed into the form stays.
  const typed = new Map(
    [...panel.querySelectorAll("#recover input[data-output]")].map((input) => [
      input.dataset.output,
      input.value,
    ]),
  );
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
    node.status === "held" && onRecover && recoverForm(node, spec, onRecover),
    node.completed_by === "operator" &&
      h("p", { class: "muted", id: "completed-by" }, "Completed by a person."),
    node.outputs && [h("h3", {}, "Outputs"), jsonBlock(node.outputs)],
    spec && [h("h3", {}, "Params"), jsonBlock(spec.params ?? {})],
    steps.length > 0 && [h("h3", {}, "History"), h("ol", { class: "history" }, steps)],
  );
  for (const input of panel.querySelectorAll("#recover input[data-output]")) {
    input.value = typed.get(input.dataset.output) ?? "";
  }
}
