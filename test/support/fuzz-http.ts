// Sending the fuzz's requests and judging the answers against the contract (docs/contract.md).
import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { errorCodes } from "../../src/engine/index.js";
import { encodeBody, resolveUrlText, type FuzzRequest, type Pools } from "./fuzz-arbitraries.js";

export interface FuzzAnswer {
  /** What was sent, placeholders filled in (for failure messages). */
  sent: string;
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** An SSE stream was opened (and cut at once). */
  streamed: boolean;
}

/** One keep-alive agent per fuzz file, so that thousands of requests do not open thousands of sockets. */
export const fuzzAgent = new Agent({ keepAlive: true, maxSockets: 4 });

/**
 * Sends one fuzz request and reads the answer to its end; an event stream is cut after its head.
 * Rejects if no answer comes in `timeoutMs`: a hung request is a failure too.
 */
export function sendFuzz(
  port: number,
  fuzz: FuzzRequest,
  pools: Pools,
  timeoutMs = 10_000,
): Promise<FuzzAnswer> {
  const path = resolveUrlText(fuzz.path, pools) + (fuzz.query ? `?${resolveUrlText(fuzz.query, pools)}` : "");
  const body = fuzz.body ? encodeBody(fuzz.body, pools) : undefined;
  const sent = `${fuzz.method} ${path.slice(0, 300)}${path.length > 300 ? "…" : ""} ${JSON.stringify(
    fuzz.headers,
  )} body: ${body ? JSON.stringify(body.toString("utf8").slice(0, 300)) : "none"}${
    body && body.length > 300 ? ` (${body.length} bytes)` : ""
  }`;
  return new Promise((resolve, reject) => {
    // A body always goes with its length: Node frames no body of a GET or DELETE by itself, and
    // unframed bytes would read as the next request on the connection (a 400 from Node's parser).
    const headers = body ? { ...fuzz.headers, "content-length": String(body.length) } : fuzz.headers;
    const outgoing = request(
      { host: "127.0.0.1", port, method: fuzz.method, path, headers, agent: fuzzAgent },
      (response) => {
        const status = response.statusCode ?? 0;
        if (/text\/event-stream/.test(response.headers["content-type"] ?? "")) {
          clearTimeout(timer);
          outgoing.destroy();
          response.destroy();
          resolve({ sent, status, headers: response.headers, text: "", streamed: true });
          return;
        }
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          clearTimeout(timer);
          resolve({
            sent,
            status,
            headers: response.headers,
            text: Buffer.concat(chunks).toString("utf8"),
            streamed: false,
          });
        });
        response.on("error", (error) => {
          clearTimeout(timer);
          reject(new Error(`${sent}: the answer broke off: ${error.message}`));
        });
      },
    );
    const timer = setTimeout(() => {
      outgoing.destroy();
      reject(new Error(`${sent}: no answer in ${timeoutMs} ms (a hung request)`));
    }, timeoutMs);
    outgoing.on("error", (error) => {
      clearTimeout(timer);
      reject(new Error(`${sent}: the request failed: ${error.message}`));
    });
    outgoing.end(body);
  });
}

const knownCodes = new Set(Object.keys(errorCodes));
const statusOfKind: Record<string, number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  too_many: 429,
  unsupported: 415,
  unavailable: 503,
};

/**
 * What is wrong with an error body by the contract's one shape, or null:
 * `{"error": {"code": SCREAMING_SNAKE from the documented list, "message": words, "details": {...}}}`.
 * `status` (HTTP) must be the one the code's kind stands for.
 */
export function errorShapeProblem(value: unknown, status?: number): string | null {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "not a JSON object";
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== "error") return `keys ${JSON.stringify(keys)}, not just "error"`;
  const error = (value as { error: unknown }).error;
  if (error === null || typeof error !== "object" || Array.isArray(error)) return "error is not an object";
  const { code, message, details } = error as Record<string, unknown>;
  if (typeof code !== "string" || !/^[A-Z][A-Z0-9_]*$/.test(code)) return `code ${JSON.stringify(code)}`;
  if (!knownCodes.has(code)) return `code ${code} is not in the documented list`;
  if (typeof message !== "string" || !/\w/.test(message)) return `message ${JSON.stringify(message)}`;
  if (details === null || typeof details !== "object" || Array.isArray(details))
    return `details ${JSON.stringify(details)}`;
  if (status !== undefined) {
    const expected = statusOfKind[errorCodes[code as keyof typeof errorCodes].kind];
    if (expected !== status) return `code ${code} with status ${status}, not ${expected}`;
  }
  return null;
}

/**
 * The contract's promises for any answer, as a list of broken ones (empty: all kept). No 5xx but
 * the documented 503s; every error answer of the API (and any JSON error elsewhere) in the one
 * shape with the status its code stands for; a 429 says when to come back; a JSON 2xx parses.
 */
export function answerProblems(answer: FuzzAnswer, path: string): string[] {
  const problems: string[] = [];
  const { status, headers, text } = answer;
  const json = /^application\/(.+\+)?json/i.test(headers["content-type"] ?? "");
  let body: unknown;
  let parsed = false;
  if (json && text !== "") {
    try {
      body = JSON.parse(text);
      parsed = true;
    } catch {
      problems.push(`a JSON content type with a body that does not parse: ${text.slice(0, 200)}`);
    }
  }
  if (status >= 500 && status !== 503) problems.push(`status ${status}: ${text.slice(0, 300)}`);
  if (status === 503) {
    const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code;
    if (code !== "REDIS_UNAVAILABLE" && code !== "STORAGE_FULL")
      problems.push(`a 503 that is not a documented one: ${text.slice(0, 300)}`);
  }
  const api = path.startsWith("/api/") || path === "/api";
  // Bull-board's own API (its page's, at /admin/queues/api/*) answers errors in its own shape
  // (`{"error": {"key": "ERRORS.…"}}`), which its page reads: only no-5xx holds there.
  const bullBoard = path.startsWith("/admin/queues/api/");
  if (status >= 400 && !answer.streamed && !bullBoard) {
    if (api && !json) problems.push(`an API error that is not JSON (${headers["content-type"]}): ${text}`);
    if (json && parsed) {
      const problem = errorShapeProblem(body, status);
      if (problem) problems.push(`error shape: ${problem}: ${text.slice(0, 300)}`);
    }
  }
  if (status === 429 && !/^\d+$/.test(String(headers["retry-after"] ?? "")))
    problems.push(`a 429 without Retry-After in seconds`);
  if (status === 0) problems.push("no status");
  return problems;
}

const runStatuses = new Set(["queued", "running", "completed", "failed", "cancelled", "paused", "held"]);
const nodeStatuses = new Set([
  "pending",
  "queued",
  "running",
  "completed",
  "failed",
  "cancelled",
  "held",
  "waiting",
  "skipped",
]);
const isTime = (value: unknown) => typeof value === "string" && !Number.isNaN(Date.parse(value));
const isTimeOrNull = (value: unknown) => value === null || isTime(value);
const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** What is wrong with GET /api/runs/{id}'s body for `runId` by the contract, or null. */
export function runBodyProblem(value: unknown, runId: string): string | null {
  if (!isObject(value)) return "not an object";
  const run = value;
  if (run.run_id !== runId) return `run_id ${JSON.stringify(run.run_id)}`;
  if (typeof run.pipeline_id !== "string") return `pipeline_id ${JSON.stringify(run.pipeline_id)}`;
  if (run.pipeline_version !== null && !Number.isInteger(run.pipeline_version))
    return `pipeline_version ${JSON.stringify(run.pipeline_version)}`;
  if (!runStatuses.has(run.status as string)) return `status ${JSON.stringify(run.status)}`;
  if (!isTime(run.created_at)) return `created_at ${JSON.stringify(run.created_at)}`;
  if (!isTimeOrNull(run.started_at)) return `started_at ${JSON.stringify(run.started_at)}`;
  if (!isTimeOrNull(run.finished_at)) return `finished_at ${JSON.stringify(run.finished_at)}`;
  if (run.execution_time !== null && typeof run.execution_time !== "number")
    return `execution_time ${JSON.stringify(run.execution_time)}`;
  if (!isObject(run.nodes) || Object.keys(run.nodes).length === 0) return "no nodes";
  for (const [nodeId, node] of Object.entries(run.nodes)) {
    if (!isObject(node)) return `node ${nodeId} is not an object`;
    if (node.node_id !== nodeId) return `node ${nodeId}: node_id ${JSON.stringify(node.node_id)}`;
    if (typeof node.device_id !== "string" || typeof node.function_id !== "string")
      return `node ${nodeId}: device_id/function_id`;
    if (!nodeStatuses.has(node.status as string))
      return `node ${nodeId}: status ${JSON.stringify(node.status)}`;
    if (!Number.isInteger(node.attempts) || (node.attempts as number) < 0)
      return `node ${nodeId}: attempts ${JSON.stringify(node.attempts)}`;
    if (node.outputs !== null && !isObject(node.outputs)) return `node ${nodeId}: outputs`;
    if (node.error !== null && !(isObject(node.error) && typeof node.error.code === "string"))
      return `node ${nodeId}: error ${JSON.stringify(node.error)}`;
    if (!isTimeOrNull(node.started_at) || !isTimeOrNull(node.finished_at)) return `node ${nodeId}: times`;
  }
  const ended = run.status === "completed" || run.status === "failed" || run.status === "cancelled";
  if (ended && run.finished_at === null) return `an ended run (${String(run.status)}) with no finished_at`;
  if (
    run.status === "completed" &&
    Object.values(run.nodes).some((node) => (node as { status: unknown }).status !== "completed")
  )
    return "a completed run with a node not completed";
  return null;
}
