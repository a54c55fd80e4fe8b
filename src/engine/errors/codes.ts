/**
 * Every error code Rigflow answers with, HTTP or WebSocket, and the kind of failure it is. The API
 * turns a kind into a status (invalid 400, unauthorized 401, forbidden 403, not_found 404, conflict 409,
 * too_large 413, too_many 429, unsupported 415, unavailable 503); node and device codes appear in run records
 * and events. docs/errors.md's table is made from this one (npm run docs).
 */
export const errorCodes = {
  BODY_INVALID_JSON: { kind: "invalid", meaning: "the request body is not valid JSON" },
  VALIDATION_FAILED: { kind: "invalid", meaning: "a field is missing or has the wrong type" },
  PIPELINE_INVALID: { kind: "invalid", meaning: "the pipeline document is malformed" },
  NODE_DUPLICATE_ID: { kind: "invalid", meaning: "two nodes share an id" },
  EDGE_UNKNOWN_NODE: { kind: "invalid", meaning: "an edge names a node that does not exist" },
  EDGE_SELF_LOOP: { kind: "invalid", meaning: "an edge goes from a node to itself" },
  EDGE_DUPLICATE: { kind: "invalid", meaning: "the same edge appears twice" },
  EDGE_OUTPUT_UNKNOWN: {
    kind: "invalid",
    meaning: "source_output is not an output of the source's function",
  },
  EDGE_INPUT_UNKNOWN: {
    kind: "invalid",
    meaning: "target_input is not a parameter of the target's function",
  },
  EDGE_INPUT_CONFLICT: { kind: "invalid", meaning: "two edges feed the same input of one node" },
  PIPELINE_CYCLE: { kind: "invalid", meaning: "the edges form a cycle; details.cycle is its path" },
  DEVICE_UNKNOWN: { kind: "invalid", meaning: "a node names a device not in the devices file" },
  FUNCTION_UNKNOWN: { kind: "invalid", meaning: "a node names a function its device's driver lacks" },
  PARAMS_INVALID: { kind: "invalid", meaning: "a node's params fail its function's parameter schema" },
  NODE_TYPE_UNSUPPORTED: { kind: "invalid", meaning: "a node's type is not one Rigflow runs" },
  QUERY_INVALID: { kind: "invalid", meaning: "a query parameter is malformed" },
  UNAUTHORIZED: {
    kind: "unauthorized",
    meaning: "the server has tokens and the request carries none, a wrong one, or an ended session",
  },
  FORBIDDEN: { kind: "forbidden", meaning: "the caller's role may not do this (a viewer changes nothing)" },
  ORIGIN_FORBIDDEN: {
    kind: "forbidden",
    meaning: "a change or /ws upgrade from a web page of another origin (not in ALLOWED_ORIGINS)",
  },
  HOST_FORBIDDEN: {
    kind: "forbidden",
    meaning:
      "with no token configured, a Host that is not a loopback name nor in ALLOWED_HOSTS (DNS rebinding)",
  },
  TOO_MANY_STREAMS: {
    kind: "too_many",
    meaning: "the client holds MAX_STREAMS_PER_CLIENT open WebSocket and SSE streams; close some first",
  },
  QUEUE_FULL: {
    kind: "too_many",
    meaning: "MAX_ACTIVE_RUNS runs have not ended; Retry-After says when to try again",
  },
  RATE_LIMITED: {
    kind: "too_many",
    meaning:
      "too many failed sign-ins or bad tokens from this address, sign-ins with one token, or changes from one client (RATE_LIMIT_PER_MIN); Retry-After says when to try again",
  },
  NOT_FOUND: { kind: "not_found", meaning: "no such route" },
  PIPELINE_NOT_FOUND: { kind: "not_found", meaning: "no pipeline with that id" },
  RUN_NOT_FOUND: { kind: "not_found", meaning: "no run with that id" },
  QUEUE_NOT_FOUND: {
    kind: "not_found",
    meaning: "no queue of that name: `runs`, or `device-<id>` for a device in the devices file",
  },
  JOB_NOT_FOUND: { kind: "not_found", meaning: "no job with that id in that queue" },
  RUN_NOT_RETRYABLE: { kind: "conflict", meaning: "only a failed or cancelled run can be retried" },
  RUN_ALREADY_ENDED: { kind: "conflict", meaning: "the run has ended and cannot be cancelled or paused" },
  NODE_NOT_FOUND: { kind: "not_found", meaning: "the run has no node with that id" },
  NODE_NOT_HELD: { kind: "conflict", meaning: "only a held node can be recovered" },
  RUN_NOT_RESTING: {
    kind: "conflict",
    meaning:
      "a held node is recovered once its run rests (held or paused): its other running nodes finish first",
  },
  NODE_OUTPUTS_NEEDED: {
    kind: "conflict",
    meaning:
      "the node cannot be skipped: a successor takes one of its outputs; complete it with outputs instead",
  },
  RUN_NOT_PAUSED: {
    kind: "conflict",
    meaning: "only a paused run can be resumed (a pausing one once its running nodes have finished)",
  },
  RUN_STOPPING: {
    kind: "conflict",
    meaning:
      "the run is being cancelled, or is failing, and cannot be paused; or it is pausing or holding, and its approvals wait again once it goes on",
  },
  NODE_NOT_WAITING: {
    kind: "conflict",
    meaning: "only an approval node that is waiting can be approved or rejected",
  },
  IDEMPOTENCY_KEY_REUSED: { kind: "conflict", meaning: "the Idempotency-Key was used with another body" },
  JOB_STATE_CONFLICT: {
    kind: "conflict",
    meaning:
      "the job's state does not allow the action: only a failed job is retried, only a delayed one promoted, an active one is never removed",
  },
  RUN_NOT_ENDED: {
    kind: "conflict",
    meaning:
      "the job belongs to a run that has not ended, and the action would break the run: cancel the run, or wait for it to end",
  },
  NODE_NOT_READY: {
    kind: "conflict",
    meaning:
      "promoting the job would start a node whose run is not running or whose predecessors have not all completed",
  },
  JOB_SUPERSEDED: {
    kind: "conflict",
    meaning: "the job is from before its run was resumed: its node has a newer job, and this one is history",
  },
  PAYLOAD_TOO_LARGE: { kind: "too_large", meaning: "the body is over the size limit" },
  PIPELINE_TOO_LARGE: { kind: "too_large", meaning: "the pipeline has more nodes than the limit" },
  TOO_MANY_SUBSCRIPTIONS: {
    kind: "too_large",
    meaning: "a WebSocket connection asked to follow more runs than the limit",
  },
  PARAMS_TOO_LARGE: { kind: "too_large", meaning: "a node's params are over the size limit" },
  UNSUPPORTED_MEDIA_TYPE: { kind: "unsupported", meaning: "the body is not sent as application/json" },
  REDIS_UNAVAILABLE: { kind: "unavailable", meaning: "Redis does not answer; try again" },
  STORAGE_FULL: {
    kind: "unavailable",
    meaning: "Redis refuses writes for lack of memory (maxmemory); reads go on, and changes once it has room",
  },
  DEVICE_ERROR: { kind: "node", meaning: "the device reported an error" },
  DEVICE_BUSY: { kind: "node", meaning: "the device was asked to run more commands than its capacity" },
  DEVICE_TIMEOUT: { kind: "node", meaning: "the device did not answer in time" },
  DEVICE_DISCONNECTED: { kind: "node", meaning: "the device went away during the command" },
  NODE_TIMEOUT: { kind: "node", meaning: "the node ran past its timeout_ms and was stopped" },
  CANCELLED: { kind: "node", meaning: "the node was stopped or never started because the run was cancelled" },
  SKIPPED_AFTER_FAILURE: { kind: "node", meaning: "the node did not start because another node failed" },
  NODE_INTERRUPTED: {
    kind: "node",
    meaning:
      "its worker died mid-command and the function is not idempotent (or its job ended without a result); check the device, then resume the run",
  },
  RUN_TIMEOUT: {
    kind: "node",
    meaning: "the run ran past its timeout_ms: its running commands were stopped and nothing else started",
  },
  REJECTED: { kind: "node", meaning: "a person rejected the approval node (POST .../reject)" },
  APPROVAL_TIMEOUT: {
    kind: "node",
    meaning: "the approval node waited past its timeout_ms without a decision",
  },
  INTERNAL_ERROR: { kind: "internal", meaning: "a fault in Rigflow itself; the logs have the stack" },
} as const satisfies Record<string, { kind: ErrorKind; meaning: string }>;

export type ErrorKind =
  | "invalid"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "too_large"
  | "too_many"
  | "unsupported"
  | "unavailable"
  | "node"
  | "internal";

export type ErrorCode = keyof typeof errorCodes;

/**
 * Failures no retry can help, whatever the node's `retry` says and whatever the driver marked: a
 * node failing with one of these fails at once. Beyond these, a driver marks a failure not
 * retryable when the device refused the command itself (an alarm, a move out of range, a G-code or
 * SCPI error); docs/pipelines.md's retry section lists both.
 */
export const neverRetriedCodes: ReadonlySet<string> = new Set<ErrorCode>([
  "PARAMS_INVALID",
  "FUNCTION_UNKNOWN",
  "CANCELLED",
  "DEVICE_BUSY",
  "NODE_INTERRUPTED",
]);
