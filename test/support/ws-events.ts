import { expect } from "vitest";
import { compareEventIds } from "../../src/engine/index.js";
import type { Message } from "./ws-client.js";

/** What every event carries (CONTRACT.md, WebSocket section). */
export const commonFields = ["event_id", "type", "run_id", "pipeline_id", "timestamp"];

/** Each type's fields beyond the common ones: the contract's event table, all of it. */
export const contractFields: Record<string, string[]> = {
  pipeline_started: ["pipeline_name", "node_count"],
  node_executing: ["node_id", "node_type", "function_id", "device_id", "attempt"],
  node_progress: ["node_id", "progress", "message"],
  node_completed: ["node_id", "outputs", "execution_time"],
  node_retrying: ["node_id", "attempt", "error_message", "delay_ms"],
  node_failed: ["node_id", "error_message", "error_type"],
  pipeline_completed: ["success", "execution_time", "nodes_executed"],
  pipeline_error: ["error_message", "node_id", "error_type"],
  pipeline_cancelled: ["node_id"],
  pipeline_resumed: ["node_id", "reason"],
  pipeline_paused: ["mode"],
  pipeline_held: [],
  node_held: ["node_id", "error_message", "error_type"],
  node_skipped: ["node_id"],
};

const isCount = (value: unknown) => typeof value === "number" && Number.isInteger(value) && value >= 0;
const isSeconds = (value: unknown) => typeof value === "number" && value >= 0;
const isText = (value: unknown) => typeof value === "string" && value.length > 0;
const isCode = (value: unknown) => typeof value === "string" && /^[A-Z][A-Z0-9_]*$/.test(value);
const isNodeOrNull = (value: unknown) => value === null || isText(value);

/** The value each field must hold, where the contract says more than "present". */
const fieldChecks: Record<string, (value: unknown) => boolean> = {
  pipeline_name: isText,
  node_count: isCount,
  node_type: (value) => value === "device",
  function_id: isText,
  device_id: isText,
  attempt: (value) => isCount(value) && (value as number) >= 1,
  progress: (value) => typeof value === "number" && value >= 0 && value <= 1,
  message: (value) => typeof value === "string",
  outputs: (value) => typeof value === "object" && value !== null && !Array.isArray(value),
  execution_time: isSeconds,
  error_message: isText,
  error_type: isCode,
  delay_ms: isCount,
  success: (value) => value === true,
  nodes_executed: isCount,
};

/**
 * Every event has exactly the common fields and its type's fields (no more, no fewer), values of
 * the right kind, this run's ids, and event_ids that strictly increase.
 */
export function expectContractEvents(events: Message[], runId: string, pipelineId: string): void {
  let previous: string | undefined;
  for (const event of events) {
    const label = `${event.type} ${String(event.event_id)}`;
    const own = contractFields[event.type];
    expect(own, `unknown event type: ${label}`).toBeDefined();
    expect(Object.keys(event).sort(), label).toEqual([...commonFields, ...(own ?? [])].sort());
    expect(event, label).toMatchObject({ run_id: runId, pipeline_id: pipelineId });
    expect(event.event_id, label).toMatch(/^\d+-\d+$/);
    expect(new Date(String(event.timestamp)).toISOString(), label).toBe(event.timestamp);
    for (const field of own ?? []) {
      const check = field === "node_id" ? nodeIdCheck(event.type) : fieldChecks[field];
      if (check)
        expect(check(event[field]), `${label}: ${field} = ${JSON.stringify(event[field])}`).toBe(true);
    }
    if (previous !== undefined) {
      expect(compareEventIds(String(event.event_id), previous), `${label} after ${previous}`).toBeGreaterThan(
        0,
      );
    }
    previous = String(event.event_id);
  }
}

/** node_id names a node, except on the pipeline events where "where one applies" allows null. */
function nodeIdCheck(type: string): (value: unknown) => boolean {
  return type.startsWith("pipeline_") ? isNodeOrNull : isText;
}

/**
 * The run's story without its node_progress events, one line per event: the type, the node, and
 * for node_executing the attempt ("node_executing a #2").
 */
export function skeleton(events: Message[]): string[] {
  return events
    .filter((event) => event.type !== "node_progress")
    .map((event) =>
      [
        event.type,
        typeof event.node_id === "string" ? event.node_id : "",
        event.type === "node_executing" ? `#${String(event.attempt)}` : "",
      ]
        .filter(Boolean)
        .join(" "),
    );
}

/**
 * node_progress may come only while its node runs (between its node_executing and the end of that
 * attempt), rising within an attempt; an attempt that completed reported progress 1 last, as the
 * worker always writes a command's last step. For pipelines of mock-servo moves that travel (a
 * move to where the servo already is reports no progress).
 */
export function expectProgressWhileRunning(events: Message[]): void {
  const running = new Map<string, number[]>();
  for (const event of events) {
    const node = String(event.node_id);
    switch (event.type) {
      case "node_executing":
        expect(running.has(node), `${node} began twice`).toBe(false);
        running.set(node, []);
        break;
      case "node_progress": {
        const seen = running.get(node);
        expect(seen, `node_progress of ${node} while it was not running`).toBeDefined();
        const last = seen?.at(-1) ?? 0;
        expect(event.progress as number, `${node}'s progress went back`).toBeGreaterThanOrEqual(last);
        seen?.push(event.progress as number);
        break;
      }
      case "node_completed":
        expect(running.get(node)?.at(-1), `${node} completed without progress reaching 1`).toBe(1);
        running.delete(node);
        break;
      case "node_failed":
      case "node_retrying":
        expect(running.has(node), `${event.type} of ${node} while it was not running`).toBe(true);
        running.delete(node);
        break;
    }
  }
}
