import { isEventId, type ErrorCode } from "../../engine/index.js";

/** What a client may send: subscribe (optionally replaying from `after`) or unsubscribe. */
export type ClientMessage =
  { action: "subscribe"; runId: string; after?: string } | { action: "unsubscribe"; runId: string };

export interface WsProblem {
  code: ErrorCode;
  message: string;
  details?: Record<string, unknown>;
}

/** A client message larger than this is answered with an error and not parsed. */
export const maxMessageBytes = 4 * 1024;

const runIdPattern = /^[A-Za-z0-9_-]{1,64}$/;

/** The contract's error shape, sent as an event: `{"type":"error","error":{code,message,details}}`. */
export function errorEvent(problem: WsProblem): string {
  return JSON.stringify({
    type: "error",
    error: { code: problem.code, message: problem.message, details: problem.details ?? {} },
  });
}

/** Checks a run id and an optional `after` from a message or the query string. */
export function checkTarget(runId: unknown, after: unknown): WsProblem | null {
  if (typeof runId !== "string" || !runIdPattern.test(runId)) {
    return {
      code: "VALIDATION_FAILED",
      message: "run_id must be a run id (1-64 letters, digits, '_' or '-')",
      details: { run_id: runId ?? null },
    };
  }
  if (after !== undefined && (typeof after !== "string" || !isEventId(after))) {
    return {
      code: "QUERY_INVALID",
      message: `after must be an event_id such as '1700000000000-0', not ${JSON.stringify(after)}`,
      details: { after },
    };
  }
  return null;
}

/** Parses one text frame into a message, or says what is wrong with it. */
export function parseClientMessage(data: Buffer | string): ClientMessage | WsProblem {
  const size = typeof data === "string" ? Buffer.byteLength(data) : data.length;
  if (size > maxMessageBytes) {
    return {
      code: "PAYLOAD_TOO_LARGE",
      message: `a message may be at most ${maxMessageBytes} bytes; this one is ${size}`,
      details: { limit: maxMessageBytes },
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(data.toString());
  } catch (error) {
    return {
      code: "BODY_INVALID_JSON",
      message: `the message is not valid JSON: ${(error as Error).message}`,
    };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return {
      code: "VALIDATION_FAILED",
      message: 'send an object such as {"action":"subscribe","run_id":"..."}',
    };
  }
  const { action, run_id: runId, after } = value as Record<string, unknown>;
  if (action !== "subscribe" && action !== "unsubscribe") {
    return {
      code: "VALIDATION_FAILED",
      message: "action must be 'subscribe' or 'unsubscribe'",
      details: { action: action ?? null },
    };
  }
  const problem = checkTarget(runId, action === "subscribe" ? after : undefined);
  if (problem) return problem;
  if (action === "unsubscribe") return { action, runId: runId as string };
  return { action, runId: runId as string, ...(after !== undefined && { after: after as string }) };
}

export const isProblem = (value: ClientMessage | WsProblem): value is WsProblem => "code" in value;
