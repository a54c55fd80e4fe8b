// Property-based fuzzing of the WebSocket endpoint /ws (issue 15, "Fuzzing"): generated frames of
// every kind (subscribe, unsubscribe, valid or mutated; other JSON; non-JSON text; binary; too
// large; invalid UTF-8) and generated upgrades, against a real API process. Every frame gets its
// answer by the contract (an error event in the one shape, or `subscribed` / `unsubscribed`), in
// order, and the connection stays; the process never dies and a fresh connection always works.
import fc from "fast-check";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { startApiProcess, type ApiProcess } from "../support/api-process.js";
import { newPrefix, redisUrl, servo, startTestWorker } from "../support/context.js";
import {
  encodeBody,
  fuzzBudget,
  resolveJsonValue,
  resolveRef,
  wsFrame,
  wsQuery,
  type Pools,
  type WsFrame,
} from "../support/fuzz-arbitraries.js";
import { errorShapeProblem, fuzzAgent, sendFuzz } from "../support/fuzz-http.js";
import { doc, home, move } from "../support/pipelines.js";
import { writeDevicesFile } from "../support/worker-process.js";

/** 120 cases per property: with the process's start, 5 s in a CI run. */
const { seed, casesPerProperty, propertyTimeoutMs } = fuzzBudget("test/api/fuzz-websocket.test.ts", 120);

const devices = [servo("servo-1"), servo("servo-2")];
const started: ApiProcess[] = [];
let api: ApiProcess;
let worker: WorkerHandle | undefined;
const pools: Pools = { runs: [], pipelines: [], events: [], jobs: [] };
const port = () => Number(new URL(api.url).port);

beforeAll(async () => {
  const prefix = newPrefix();
  api = await startApiProcess(
    {
      REDIS_URL: redisUrl(),
      RIGFLOW_PREFIX: prefix,
      DEVICES_FILE: writeDevicesFile(devices),
      MAX_STREAMS_PER_CLIENT: "1000",
    },
    started,
  );
  worker = await startTestWorker(prefix, devices, { shutdownGraceMs: 500 });
  const post = async (path: string, body: unknown) => {
    const answer = await sendFuzz(
      port(),
      {
        method: "POST",
        path,
        query: "",
        headers: { "content-type": "application/json" },
        body: { json: body, damage: { kind: "none" } },
      },
      pools,
    );
    expect(answer.status, answer.text).toBeLessThan(300);
    return JSON.parse(answer.text) as { run_id: string };
  };
  // Runs with events to replay: one ended (run to its end by execute), one failed, one still
  // running (a slow move, whose progress events keep coming while the fuzz runs).
  const done = await post(
    "/api/pipelines/execute?timeout_s=20",
    doc("ws_done", [home("n0", "servo-1"), move("n1", "servo-1", 40)], [{ source: "n0", target: "n1" }]),
  );
  const failed = await post(
    "/api/pipelines/execute?timeout_s=20",
    doc("ws_fail", [move("n0", "servo-2", 500)]),
  );
  const slow = await post("/api/runs", {
    pipeline: doc("ws_slow", [{ ...move("n0", "servo-2", 180), params: { position: 180, speed: 5 } }]),
  });
  for (const run of [done, failed, slow]) pools.runs.push({ runId: run.run_id, nodeIds: ["n0", "n1"] });
  const events = await sendFuzz(
    port(),
    { method: "GET", path: `/api/runs/${done.run_id}/events`, query: "", headers: {} },
    pools,
  );
  pools.events.push(
    ...(JSON.parse(events.text) as { events: { event_id: string }[] }).events.map((e) => e.event_id),
  );
  expect(pools.events.length).toBeGreaterThan(3);
}, 60_000);

afterAll(async () => {
  await worker?.close();
  for (const server of started) await server.stop();
  fuzzAgent.destroy();
});

// ---------------------------------------------------------------------------------------------
// A client that keeps everything

interface Received {
  text: string;
  binary: boolean;
}

/** A `ws` client that keeps every frame it gets as text, and wakes waiters on each frame and on close. */
class FuzzSocket {
  readonly received: Received[] = [];
  closeCode: number | undefined;
  readonly closed: Promise<number>;
  private readonly wake = new Set<() => void>();

  private constructor(readonly socket: WebSocket) {
    socket.on("message", (data, binary) => {
      this.received.push({ text: (data as Buffer).toString("utf8"), binary });
      for (const waiter of this.wake) waiter();
    });
    socket.on("error", () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on("close", (code) => {
        this.closeCode = code;
        for (const waiter of this.wake) waiter();
        resolve(code);
      }),
    );
  }

  /** Opens /ws (or what `path` says): the socket, or the refusal with its status and body. */
  static open(
    path: string,
    headers: Record<string, string> = {},
  ): Promise<{ socket: FuzzSocket } | { refused: { status: number; type: string; text: string } }> {
    const socket = new WebSocket(`ws://127.0.0.1:${port()}${path}`, { headers });
    const client = new FuzzSocket(socket);
    return new Promise((resolve, reject) => {
      socket.once("open", () => resolve({ socket: client }));
      socket.once("unexpected-response", (_request, response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => (text += chunk.toString()));
        response.on("end", () =>
          resolve({
            refused: { status: response.statusCode ?? 0, type: response.headers["content-type"] ?? "", text },
          }),
        );
      });
      socket.once("error", (error) => reject(new Error(`opening ${path}: ${error.message}`)));
    });
  }

  /** Parsed JSON frames (a frame that is not JSON fails the test). */
  messages(): Record<string, unknown>[] {
    return this.received.map(({ text, binary }) => {
      expect(binary, `a binary frame from the server: ${text}`).toBe(false);
      const value = JSON.parse(text) as unknown;
      expect(value !== null && typeof value === "object" && !Array.isArray(value), text).toBe(true);
      return value as Record<string, unknown>;
    });
  }

  /** Resolves once `condition` holds (checked now, on every frame and on close); rejects after `timeoutMs`. */
  waitUntil(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        this.wake.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.wake.delete(check);
        reject(
          new Error(
            `${what}: not within ${timeoutMs} ms (close code ${this.closeCode}); got ${JSON.stringify(
              this.received.map((r) => r.text.slice(0, 200)),
            )}`,
          ),
        );
      }, timeoutMs);
      this.wake.add(check);
      check();
    });
  }

  async close(): Promise<void> {
    if (this.closeCode === undefined) this.socket.close();
    await this.closed;
  }
}

// ---------------------------------------------------------------------------------------------
// What the contract says each frame gets

/** The answer a frame must get: at once and in order (sync), later (a subscribe), or a close. */
type Expected =
  | { kind: "error"; code: string }
  | { kind: "unsubscribed"; runId: string }
  | { kind: "subscribe"; runId: string }
  | { kind: "close"; code: number };

const runIdPattern = /^[A-Za-z0-9_-]{1,64}$/;
const maxIdPart = 2n ** 64n - 1n;
const isEventId = (text: string) =>
  /^\d{1,20}-\d{1,20}$/.test(text) && text.split("-").every((part) => BigInt(part) <= maxIdPart);
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A run id and `after`, from a message or the query: the problem's code, or null. */
function targetProblem(runId: unknown, after: unknown): string | null {
  if (typeof runId !== "string" || !runIdPattern.test(runId)) return "VALIDATION_FAILED";
  if (after !== undefined && (typeof after !== "string" || !isEventId(after))) return "QUERY_INVALID";
  return null;
}

/** The bytes of a frame, and whether it goes as binary. */
function frameBytes(frame: WsFrame): { bytes: Buffer; binary: boolean } {
  if ("binary" in frame) return { bytes: Buffer.from(frame.binary), binary: true };
  if ("bigText" in frame) {
    const pad = "x".repeat(frame.bigText);
    return {
      bytes: Buffer.from(JSON.stringify({ action: "subscribe", run_id: "run_x", pad })),
      binary: false,
    };
  }
  if ("text" in frame) return { bytes: Buffer.from(frame.text), binary: false };
  const json = { json: resolveJsonValue(frame.json, pools), damage: frame.damage };
  return { bytes: encodeBody(json, pools), binary: false };
}

/** What the contract (and the documented limits: 4 KiB a message, 64 KiB a frame) says a frame gets. */
function expectationOf(bytes: Buffer, binary: boolean): Expected {
  if (binary) return { kind: "error", code: "VALIDATION_FAILED" };
  if (bytes.length > 64 * 1024) return { kind: "close", code: 1009 };
  try {
    utf8.decode(bytes);
  } catch {
    return { kind: "close", code: 1007 };
  }
  if (bytes.length > 4096) return { kind: "error", code: "PAYLOAD_TOO_LARGE" };
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch {
    return { kind: "error", code: "BODY_INVALID_JSON" };
  }
  if (value === null || typeof value !== "object" || Array.isArray(value))
    return { kind: "error", code: "VALIDATION_FAILED" };
  const { action, run_id: runId, after } = value as Record<string, unknown>;
  if (action !== "subscribe" && action !== "unsubscribe") return { kind: "error", code: "VALIDATION_FAILED" };
  const problem = targetProblem(runId, action === "subscribe" ? after : undefined);
  if (problem) return { kind: "error", code: problem };
  return action === "subscribe"
    ? { kind: "subscribe", runId: runId as string }
    : { kind: "unsubscribed", runId: runId as string };
}

/** What a connection's query asks at once (hub.ts: run_id any number of times, after with exactly one). */
function queryExpectations(url: URL): { expected: Expected[]; narrowed: boolean } {
  const runIds = url.searchParams.getAll("run_id");
  const after = url.searchParams.get("after") ?? undefined;
  const expected: Expected[] = [];
  if (after !== undefined && runIds.length !== 1) expected.push({ kind: "error", code: "QUERY_INVALID" });
  for (const runId of runIds) {
    const problem = targetProblem(runId, runIds.length === 1 ? after : undefined);
    expected.push(problem ? { kind: "error", code: problem } : { kind: "subscribe", runId });
  }
  return { expected, narrowed: runIds.length > 0 || after !== undefined };
}

const knownRun = (runId: string) => pools.runs.some((run) => run.runId === runId);
const errorCode = (message: Record<string, unknown>) =>
  (message.error as { code?: unknown } | undefined)?.code;

/** Every frame the server sent is a run event, an error event in the one shape, or a reply. */
function expectWellFormed(messages: Record<string, unknown>[]): void {
  for (const message of messages) {
    const text = JSON.stringify(message).slice(0, 300);
    if (typeof message.event_id === "string") {
      for (const field of ["type", "run_id", "pipeline_id", "timestamp"])
        expect(typeof message[field], `${field} of ${text}`).toBe("string");
      expect(Number.isNaN(Date.parse(message.timestamp as string)), text).toBe(false);
    } else if (message.type === "error") {
      // The contract's error shape, as an event: `{"type": "error", "error": {code, message, details}}`.
      expect(Object.keys(message).sort(), text).toEqual(["error", "type"]);
      expect(errorShapeProblem({ error: message.error }), text).toBeNull();
    } else if (message.type === "subscribed") {
      expect(typeof message.run_id, text).toBe("string");
      expect(Number.isInteger(message.replayed), text).toBe(true);
    } else {
      expect(message.type, `an unknown frame: ${text}`).toBe("unsubscribed");
      expect(typeof message.run_id, text).toBe("string");
    }
  }
}

/** With FUZZ_STATS=1, how the frames were spread over the answers they must get (printed at the end). */
const stats = new Map<string, number>();
function tally(expectation: Expected): void {
  if (!process.env.FUZZ_STATS) return;
  const key =
    expectation.kind === "error"
      ? `error ${expectation.code}`
      : expectation.kind === "close"
        ? `close ${expectation.code}`
        : `${expectation.kind} ${knownRun(expectation.runId) ? "(a run that exists)" : "(no such run)"}`;
  stats.set(key, (stats.get(key) ?? 0) + 1);
}
afterAll(() => {
  if (!process.env.FUZZ_STATS) return;
  console.log(`frames by answer:\n${[...stats].map(([key, count]) => `${count}\t${key}`).join("\n")}`);
});

let probes = 0;

/** An unsubscribe, whose `unsubscribed` answer comes once every frame sent before it has been handled. */
async function probe(client: FuzzSocket): Promise<void> {
  const runId = `fuzz_probe_${(probes += 1)}`;
  client.socket.send(JSON.stringify({ action: "unsubscribe", run_id: runId }));
  await client.waitUntil(
    () => client.received.some((r) => r.text.includes(`"${runId}"`)),
    `the answer to the probe ${runId}`,
  );
  const answer = client.messages().find((m) => m.run_id === runId);
  expect(answer).toEqual({ type: "unsubscribed", run_id: runId });
}

/** A fresh connection to /ws subscribes to a run that exists. */
async function expectFreshConnectionWorks(): Promise<void> {
  expect(api.alive(), `the API process died:\n${api.log().slice(-3000)}`).toBe(true);
  const opened = await FuzzSocket.open("/ws");
  if (!("socket" in opened)) throw new Error(`a fresh /ws was refused: ${JSON.stringify(opened.refused)}`);
  const client = opened.socket;
  try {
    const runId = resolveRef("run", 0, pools);
    client.socket.send(JSON.stringify({ action: "subscribe", run_id: runId }));
    await client.waitUntil(
      () => client.messages().some((m) => m.type === "subscribed" && m.run_id === runId),
      `subscribed to ${runId} on a fresh connection`,
    );
  } finally {
    await client.close();
  }
}

/** The query of a generated connection, as the URL the client opens. */
function queryText(query: { runIds: string[]; after: unknown; other: string | undefined }): string {
  const params = new URLSearchParams();
  for (const runId of query.runIds) {
    const ref = /^\$(run|pipeline):(\d+)$/.exec(runId);
    params.append("run_id", ref ? resolveRef(ref[1] as string, Number(ref[2]), pools) : runId);
  }
  if (query.after !== undefined) {
    const after = resolveJsonValue(query.after, pools);
    params.append("after", typeof after === "string" ? after : JSON.stringify(after));
  }
  const text = [params.toString(), query.other].filter(Boolean).join("&");
  return text ? `?${text}` : "";
}

/**
 * One case: a fresh connection (with the query), the frames, then a probe. Checks every answer
 * against expectations: sync answers exactly and in order, each last subscribe of a run answered,
 * no event of a run not asked for on a connection narrowed from the start, events in order.
 */
async function runCase(query: string, frames: WsFrame[]): Promise<void> {
  const opened = await FuzzSocket.open(`/ws${query}`);
  if (!("socket" in opened)) throw new Error(`/ws${query} was refused: ${JSON.stringify(opened.refused)}`);
  const client = opened.socket;
  try {
    const fromQuery = queryExpectations(new URL(client.socket.url));
    const expected: Expected[] = [...fromQuery.expected];
    let closing: number | undefined;
    for (const frame of frames) {
      const { bytes, binary } = frameBytes(frame);
      const expectation = expectationOf(bytes, binary);
      client.socket.send(bytes, { binary });
      expected.push(expectation);
      tally(expectation);
      if (expectation.kind === "close") {
        closing = expectation.code;
        break;
      }
    }
    if (closing === undefined) await probe(client);
    else expect(await client.closed, "the close code for a frame past the limits").toBe(closing);
    // Each run's last subscribe (not undone by a later unsubscribe) is answered: subscribed for a
    // run that exists, RUN_NOT_FOUND naming it for one that does not.
    const last = new Map<string, Expected>();
    for (const item of expected)
      if (item.kind === "subscribe" || item.kind === "unsubscribed") last.set(item.runId, item);
    const pending = [...last.values()].filter((item) => item.kind === "subscribe").map((item) => item.runId);
    if (closing === undefined) {
      await client.waitUntil(
        () =>
          pending.every((runId) =>
            client
              .messages()
              .some(
                (m) =>
                  (m.type === "subscribed" && m.run_id === runId) ||
                  (m.type === "error" &&
                    errorCode(m) === "RUN_NOT_FOUND" &&
                    (m.error as { details?: { run_id?: unknown } }).details?.run_id === runId),
              ),
          ),
        `answers to the subscribes of ${JSON.stringify(pending)}`,
      );
      for (const runId of pending) {
        const answer = client
          .messages()
          .find(
            (m) =>
              (m.type === "subscribed" && m.run_id === runId) ||
              (m.type === "error" &&
                (m.error as { details?: { run_id?: unknown } }).details?.run_id === runId),
          );
        expect(answer?.type, `the answer to subscribing to ${runId}`).toBe(
          knownRun(runId) ? "subscribed" : "error",
        );
      }
    }
    const messages = client.messages();
    expectWellFormed(messages);
    // The answers that come at once, in order: every frame's but the subscribes' (which come when
    // the replay is done) and the probe's.
    const sync = messages
      .filter((m) => typeof m.event_id !== "string" && m.type !== "subscribed")
      .filter((m) => !(m.type === "error" && errorCode(m) === "RUN_NOT_FOUND"))
      .filter((m) => !(typeof m.run_id === "string" && m.run_id.startsWith("fuzz_probe_")))
      .map((m) =>
        m.type === "error" ? `error ${String(errorCode(m))}` : `${String(m.type)} ${String(m.run_id)}`,
      );
    const expectedSync = expected
      .filter((item) => item.kind === "error" || item.kind === "unsubscribed")
      .map((item) =>
        item.kind === "error" ? `error ${item.code}` : `unsubscribed ${(item as { runId: string }).runId}`,
      );
    expect(sync, "the answers to the frames, in order").toEqual(expectedSync);
    // Narrowed from the start: only events of the runs asked for, each run's in order.
    if (fromQuery.narrowed) {
      const asked = new Set(expected.flatMap((item) => (item.kind === "subscribe" ? [item.runId] : [])));
      const lastId = new Map<string, bigint[]>();
      const subscribedOnce = new Set(
        [...asked].filter(
          (runId) => expected.filter((item) => "runId" in item && item.runId === runId).length === 1,
        ),
      );
      for (const event of messages.filter((m) => typeof m.event_id === "string")) {
        const runId = event.run_id as string;
        expect(asked.has(runId), `an event of run ${runId}, which the client did not ask for`).toBe(true);
        if (!subscribedOnce.has(runId)) continue;
        const id = (event.event_id as string).split("-").map(BigInt) as [bigint, bigint];
        const before = lastId.get(runId);
        if (before) {
          const newer = id[0] > before[0]! || (id[0] === before[0] && id[1] > before[1]!);
          expect(newer, `events of ${runId} out of order or repeated: ${String(event.event_id)}`).toBe(true);
        }
        lastId.set(runId, id);
      }
    }
  } finally {
    await client.close();
  }
  expect(api.alive(), `the API process died:\n${api.log().slice(-3000)}`).toBe(true);
}

describe(`fuzzing the WebSocket endpoint (seed ${seed})`, () => {
  it(
    "answers every frame by the contract, in order, and stays connected",
    async () => {
      const queries = fc.oneof(
        { arbitrary: fc.constant(""), weight: 2 },
        { arbitrary: wsQuery.map((query) => queryText(query)), weight: 2 },
      );
      await fc.assert(
        fc.asyncProperty(queries, fc.array(wsFrame, { minLength: 1, maxLength: 10 }), (query, frames) =>
          runCase(query, frames),
        ),
        { seed, numRuns: casesPerProperty },
      );
      await expectFreshConnectionWorks();
    },
    propertyTimeoutMs,
  );

  it(
    "answers every upgrade, odd paths, origins, hosts and credentials included, in the contract's shape",
    async () => {
      const upgrade = fc.record({
        path: fc.constantFrom(
          "/ws",
          "/ws/",
          "/wsx",
          "/WS",
          "/ws/ws",
          "/api/ws",
          "/",
          "/ws%00",
          "/ws;x",
          "//ws",
        ),
        query: fc.oneof(
          fc.constant(""),
          wsQuery.map((query) => queryText(query)),
        ),
        headers: fc.record(
          {
            origin: fc.constantFrom("http://evil.example", "null", "http://127.0.0.1", "http://localhost:1"),
            host: fc.constantFrom(
              "evil.example",
              "localhost",
              "[::1]",
              "127.0.0.1:1",
              "localhost.evil.example",
            ),
            authorization: fc.constantFrom("Bearer x", "Basic eA==", "Bearer"),
            cookie: fc.constantFrom("rigflow_session=forged", "rigflow_session=", "x=y"),
          },
          { requiredKeys: [] },
        ),
      });
      await fc.assert(
        fc.asyncProperty(upgrade, async ({ path, query, headers }) => {
          const clean: Record<string, string> = {};
          for (const [name, value] of Object.entries(headers)) if (value !== undefined) clean[name] = value;
          const opened = await FuzzSocket.open(`${path}${query}`, clean);
          const where = `${path}${query} ${JSON.stringify(clean)}`;
          if ("socket" in opened) {
            // Accepted: it must be /ws itself, and it answers like any connection.
            expect(new URL(opened.socket.socket.url).pathname, where).toBe("/ws");
            try {
              await probe(opened.socket);
              expectWellFormed(opened.socket.messages());
            } finally {
              await opened.socket.close();
            }
          } else {
            const { status, type, text } = opened.refused;
            expect(status, `${where}: ${text}`).toBeGreaterThanOrEqual(400);
            expect(status, `${where}: ${text}`).toBeLessThan(500);
            expect(type, where).toMatch(/^application\/json/);
            expect(errorShapeProblem(JSON.parse(text), status), `${where}: ${text}`).toBeNull();
          }
          expect(api.alive(), `the API process died:\n${api.log().slice(-3000)}`).toBe(true);
        }),
        { seed, numRuns: casesPerProperty },
      );
      await expectFreshConnectionWorks();
    },
    propertyTimeoutMs,
  );
});
