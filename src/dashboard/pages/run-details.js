// The run page's side panel: one node's state, attempts, error, outputs, timings and device; the
// form a held node's recovery needs, and the one a waiting approval's decision needs.
import { fill, formatSeconds, formatTime, h, jsonBlock, link, statusBadge } from "../lib/dom.js";
import { isApproval } from "../lib/node-kind.js";

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
      case "node_waiting":
        return `waiting for a person: ${event.message}`;
      case "node_completed":
        return event.completed_by === "operator"
          ? `completed by a person after ${formatSeconds(event.execution_time)}`
          : `completed in ${formatSeconds(event.execution_time)}`;
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
    { class: "recover", id: "recover", "data-node-id": node.node_id },
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

/** The declared type of each output an approval asks for (a list of names declares each "any"). */
function approvalOutputTypes(node, spec) {
  if (node.approval?.outputs) return node.approval.outputs;
  if (spec?.output_types) return spec.output_types;
  return Object.fromEntries((spec?.outputs ?? []).map((name) => [name, "any"]));
}

/** The input for one output, fit to its type: a number field, a checkbox, or text. */
function outputInput(name, type) {
  const common = { name, "data-output": name, "data-type": type };
  switch (type) {
    case "number":
      return h("input", { ...common, type: "number", step: "any" });
    case "boolean":
      return h("input", { ...common, type: "checkbox" });
    case "string":
      return h("input", { ...common, type: "text" });
    default:
      return h("input", { ...common, type: "text", placeholder: "JSON or text" });
  }
}

/**
 * What a field holds, as its declared type. A blank field gives nothing, so approve names the
 * output missing rather than taking an empty string or a zero nobody meant; a checkbox is always
 * true or false.
 */
function outputValue(input) {
  const text = input.value.trim();
  switch (input.dataset.type) {
    case "boolean":
      return input.checked;
    case "number":
      // A number field holds "" for anything that does not read as a number, too.
      return text === "" ? undefined : Number(text);
    case "string":
      return text === "" ? undefined : input.value;
    default:
      return text === "" ? undefined : typedValue(text);
  }
}

function approvalOutputs(form) {
  const outputs = {};
  for (const input of form.querySelectorAll("input[data-output]")) {
    const value = outputValue(input);
    if (value !== undefined) outputs[input.dataset.output] = value;
  }
  return outputs;
}

/** Marks the field an API error names (details.field "outputs.<name>"), and only that one. */
function markInvalidOutput(form, error) {
  const field = typeof error?.details?.field === "string" ? error.details.field : "";
  const name = field.startsWith("outputs.") ? field.slice("outputs.".length) : null;
  for (const input of form.querySelectorAll("input[data-output]")) {
    const invalid = input.dataset.output === name;
    input.toggleAttribute("aria-invalid", invalid);
    input.closest("label")?.classList.toggle("invalid", invalid);
  }
}

/**
 * What a person decides for a waiting approval: its message, one field per output it asks for,
 * Approve, and Reject with an optional reason. `onDecide(nodeId, decision, body)` resolves to the
 * API's error, or null; the buttons are disabled meanwhile, so one click makes one decision.
 */
function approvalForm(node, spec, onDecide) {
  const types = approvalOutputTypes(node, spec);
  const fields = Object.entries(types).map(([name, type]) =>
    h(
      "label",
      { class: "output-field" },
      h("code", {}, name),
      " ",
      h("span", { class: "muted output-type" }, type),
      " ",
      outputInput(name, type),
    ),
  );
  const timeoutAt = node.approval?.timeout_at;
  const approve = h("button", { id: "approve", type: "button" }, "Approve");
  const reason = h("input", {
    type: "text",
    id: "reject-reason",
    maxlength: 1000,
    placeholder: "why (optional)",
    "aria-label": "Reason for rejecting",
  });
  const reject = h("button", { id: "reject", type: "button", class: "danger" }, "Reject");
  const form = h(
    "section",
    { class: "approval", id: "approval", "data-node-id": node.node_id },
    h("h3", {}, "Waiting for a person"),
    h("p", { class: "approval-message", id: "approval-message" }, node.approval?.message ?? spec?.message),
    timeoutAt &&
      h("p", { class: "muted" }, `Fails APPROVAL_TIMEOUT at ${formatTime(timeoutAt)} if nobody decides.`),
    fields.length > 0 && h("h4", {}, "Outputs"),
    ...fields,
    h("div", { class: "approval-actions" }, approve),
    h("h4", {}, "Or reject it"),
    h("label", { class: "output-field" }, "Reason ", reason),
    reject,
  );
  // Decided, the node moves on and the next drawing drops the form: its buttons stay disabled till
  // then. Refused, the person corrects the form and tries again.
  const decide = async (decision, body) => {
    approve.disabled = reject.disabled = true;
    const error = await onDecide(node.node_id, decision, body);
    markInvalidOutput(form, error);
    if (error) approve.disabled = reject.disabled = false;
  };
  // A marked field is being corrected: the mark goes as the person types.
  form.addEventListener("input", (event) => {
    if (!(event.target instanceof HTMLInputElement) || !event.target.dataset.output) return;
    event.target.removeAttribute("aria-invalid");
    event.target.closest("label")?.classList.remove("invalid");
  });
  approve.addEventListener("click", () => void decide("approve", { outputs: approvalOutputs(form) }));
  reject.addEventListener("click", () => void decide("reject", { reason: reason.value.trim() }));
  return form;
}

/** A waiting approval, for a viewer: what it asks, and that an operator decides it. */
function approvalNotice(node, spec) {
  return h(
    "section",
    { class: "approval", id: "approval-notice" },
    h("h3", {}, "Waiting for a person"),
    h("p", { class: "approval-message" }, node.approval?.message ?? spec?.message),
    h("p", { class: "muted" }, "An operator approves or rejects it."),
  );
}

/** The section a waiting approval shows: the decision form for an operator, a notice otherwise. */
function approvalSection(panel, node, spec, onDecide) {
  if (!onDecide) return approvalNotice(node, spec);
  return keptForm(panel, "approval", node.node_id, () => approvalForm(node, spec, onDecide));
}

/**
 * The panel is drawn again as events arrive: a form it already shows for this node is kept as it
 * is (what a person typed, ticked or is sending) rather than built anew.
 */
function keptForm(panel, id, nodeId, build) {
  const shown = panel.querySelector(`#${id}`);
  return shown instanceof HTMLElement && shown.dataset.nodeId === nodeId ? shown : build();
}

/** The node's device; an approval has none, a person decides it. */
function deviceRow(node) {
  if (isApproval(node)) return row("Device", h("span", { class: "muted" }, "none: a person approves it"));
  return row("Device", link("/devices", h("code", {}, node.device_id)));
}

/**
 * Renders the details of `nodeId` into `panel`.
 * @param {HTMLElement} panel
 * @param {{node: any, spec: any, progress?: {progress: number, message: string}, events: any[],
 *   onRecover?: Function | null, onDecide?: Function | null}} view
 */
export function renderNodeDetails(
  panel,
  { node, spec, progress, events, onRecover = null, onDecide = null },
) {
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
  const waiting = node.status === "waiting" && isApproval(node);
  // A form kept from the last drawing leaves the page for a moment: the field being typed in gets
  // its focus back.
  const focused = panel.contains(document.activeElement) ? document.activeElement : null;
  const steps = history(events);
  fill(
    panel,
    h("h2", {}, h("code", {}, node.node_id), " ", statusBadge(node.status)),
    h(
      "dl",
      { class: "facts" },
      row("Function", h("code", {}, node.function_id)),
      deviceRow(node),
      isApproval(node) && !waiting && row("Message", node.approval?.message ?? spec?.message ?? ""),
      row("Attempts", String(node.attempts)),
      row("Started", formatTime(node.started_at)),
      row("Finished", formatTime(node.finished_at)),
      row("Took", formatSeconds(node.execution_time)),
      running && row("Progress", `${Math.round(progress.progress * 100)}% ${progress.message ?? ""}`),
    ),
    error,
    node.status === "held" &&
      onRecover &&
      keptForm(panel, "recover", node.node_id, () => recoverForm(node, spec, onRecover)),
    waiting && approvalSection(panel, node, spec, onDecide),
    node.completed_by === "operator" &&
      h("p", { class: "muted", id: "completed-by" }, "Completed by a person."),
    node.outputs && [h("h3", {}, "Outputs"), jsonBlock(node.outputs)],
    // An approval has no params: what it asks is its message and outputs.
    spec && !isApproval(node) && [h("h3", {}, "Params"), jsonBlock(spec.params ?? {})],
    steps.length > 0 && [h("h3", {}, "History"), h("ol", { class: "history" }, steps)],
  );
  if (focused instanceof HTMLElement && focused.isConnected) focused.focus();
}
