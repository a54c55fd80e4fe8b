/** The events a run emits, as clients receive them (snake_case is the wire's and the seed's). */
interface EventBase {
  run_id: string;
  pipeline_id: string;
  timestamp: string;
}

export type RunEventBody =
  | { type: "pipeline_started"; pipeline_name: string; node_count: number }
  | {
      type: "node_executing";
      node_id: string;
      node_type: "device";
      function_id: string;
      device_id: string;
      attempt: number;
    }
  | { type: "node_progress"; node_id: string; progress: number; message: string }
  | {
      type: "node_completed";
      node_id: string;
      outputs: Record<string, unknown>;
      execution_time: number;
      /** A person completed the node (POST .../recover, or .../approve); absent when its command did. */
      completed_by?: "operator";
    }
  | { type: "node_skipped"; node_id: string }
  | { type: "node_retrying"; node_id: string; attempt: number; error_message: string; delay_ms: number }
  | { type: "node_failed"; node_id: string; error_message: string; error_type: string }
  | { type: "pipeline_completed"; success: true; execution_time: number; nodes_executed: number }
  | { type: "pipeline_error"; error_message: string; node_id: string | null; error_type: string }
  | { type: "pipeline_cancelled"; node_id: string | null }
  | { type: "pipeline_resumed"; node_id: string | null; reason: "retried" | "unpaused" | "recovered" }
  | { type: "pipeline_paused"; mode: "deferred" | "immediate" }
  /** Nothing of the run runs any more, and it waits for a person to recover its held nodes. */
  | { type: "pipeline_held" }
  | { type: "node_held"; node_id: string; error_message: string; error_type: string }
  /**
   * An approval waits for a person: its message, the outputs it asks (name -> "string", "number",
   * "boolean", or "any"), and when it fails APPROVAL_TIMEOUT (null: no limit of its own).
   */
  | {
      type: "node_waiting";
      node_id: string;
      message: string;
      outputs: Record<string, string>;
      timeout_at: string | null;
    };

export type RunEventType = RunEventBody["type"];
export type RunEventDraft = EventBase & RunEventBody;
export type RunEvent = RunEventDraft & { event_id: string };

export function eventJson(base: EventBase, body: RunEventBody): string {
  return JSON.stringify({ ...body, ...base });
}

/** An event_id is a Redis stream id, "<ms>-<seq>", each part at most 2^64 - 1. */
const eventIdPattern = /^\d{1,20}-\d{1,20}$/;
const maxIdPart = 2n ** 64n - 1n;
/** The greatest stream id: nothing can come after it (and Redis refuses an exclusive range from it). */
export const lastPossibleEventId = `${maxIdPart}-${maxIdPart}`;

/** Whether `text` is a stream id Redis accepts: the pattern alone lets through 20-digit parts over 2^64 - 1. */
export function isEventId(text: string): boolean {
  return eventIdPattern.test(text) && text.split("-").every((part) => BigInt(part) <= maxIdPart);
}

/** Orders two event ids as stream ids (numerically, ms then seq): negative, zero or positive. */
export function compareEventIds(a: string, b: string): number {
  const [aMs = 0n, aSeq = 0n] = a.split("-").map(BigInt);
  const [bMs = 0n, bSeq = 0n] = b.split("-").map(BigInt);
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  return aSeq === bSeq ? 0 : aSeq < bSeq ? -1 : 1;
}
