import { approveCommand, rejectCommand } from "./approval-commands.js";
import { clock, count, percent, printable, seconds } from "./format.js";
import type { RunModel } from "./run-model.js";
import type { RunEvent } from "./wire.js";

/**
 * One event as one plain line (piped output, CI logs):
 * `14:03:01.123  node_2  running move@servo-1 (attempt 1)`.
 */
export function eventLine(event: RunEvent, model: RunModel): string {
  const width = Math.max(3, ...[...model.nodes.keys()].map((id) => id.length));
  const [subject, text] = describe(event, model);
  // Node ids, names and messages come from devices and the server: printed on one line, as text.
  return printable(`${clock(Date.parse(event.timestamp))}  ${subject.padEnd(width)}  ${text}`);
}

function describe(event: RunEvent, model: RunModel): [subject: string, text: string] {
  switch (event.type) {
    case "pipeline_started":
      return [
        "run",
        `started: ${event.pipeline_name || event.pipeline_id} (${count(event.node_count, "node")})`,
      ];
    case "pipeline_completed":
      return [
        "run",
        `completed in ${seconds(event.execution_time)} (${count(event.nodes_executed, "node")} executed)`,
      ];
    case "pipeline_error":
      return [
        "run",
        `failed${event.node_id === null ? "" : ` at ${event.node_id}`}: ${event.error_type}: ${event.error_message}`,
      ];
    case "pipeline_cancelled":
      return ["run", "cancelled"];
    case "pipeline_resumed":
      return ["run", event.reason === "unpaused" ? "resumed after a pause" : "resumed"];
    case "pipeline_paused":
      return [
        "run",
        `paused${event.mode === "immediate" ? " (its running commands were stopped)" : ""}; go on with: rigflow resume ${event.run_id}`,
      ];
    case "node_held":
      return [
        event.node_id,
        `held: ${event.error_type}: ${event.error_message}; decide with: rigflow recover ${event.run_id} ${event.node_id} retry|skip|complete`,
      ];
    case "pipeline_held":
      return ["run", "held: a person decides for its held nodes"];
    case "node_skipped":
      return [event.node_id, "skipped by a person"];
    case "node_executing":
      return [event.node_id, `running ${event.function_id}@${event.device_id} (attempt ${event.attempt})`];
    case "node_progress":
      return [event.node_id, `${percent(event.progress)}${event.message ? ` ${event.message}` : ""}`];
    case "node_completed":
      return [
        event.node_id,
        event.completed_by !== "operator"
          ? `completed in ${seconds(event.execution_time)}`
          : model.nodes.get(event.node_id)?.approval
            ? "approved by a person"
            : "completed by a person",
      ];
    case "node_retrying":
      return [
        event.node_id,
        `will retry (attempt ${event.attempt}) in ${seconds(event.delay_ms / 1000)}: ${event.error_message}`,
      ];
    case "node_waiting":
      return [event.node_id, waitingText(event)];
    case "node_failed":
      return [event.node_id, `failed: ${event.error_type}: ${event.error_message}`];
    default:
      // An event type newer than this CLI: still one line.
      return ["run", (event as { type: string }).type];
  }
}

/** A waiting approval: what it asks, until when, and the commands that decide it. */
function waitingText(event: Extract<RunEvent, { type: "node_waiting" }>): string {
  const until = event.timeout_at === null ? "" : ` until ${clock(Date.parse(event.timeout_at)).slice(0, 8)}`;
  const message = event.message ? `: ${event.message}` : "";
  return (
    `waiting for a person${until}${message}; ` +
    `approve with: ${approveCommand(event.run_id, event.node_id, event.outputs)}; ` +
    `reject with: ${rejectCommand(event.run_id, event.node_id)}`
  );
}
