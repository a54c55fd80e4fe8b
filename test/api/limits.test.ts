// What one client may ask of the system (docs/contract.md, "Bounded resources"), against a real
// Redis: the active-run cap and the caps on what a document may ask, through the HTTP API.
import { afterEach, describe, expect, it } from "vitest";
import { createApp } from "../../src/api/app.js";
import { drivers } from "../../src/drivers/registry.js";
import { connectRedis, createCatalog, defaultLimits, Engine, type Limits } from "../../src/engine/index.js";
import WebSocket from "ws";
import {
  newPrefix,
  quietLog,
  redisUrl,
  servo,
  startTestServer,
  startTestWorker,
} from "../support/context.js";
import { openStream, rawRequest, tryUpgrade } from "../support/raw-http.js";
import { doc, home, move } from "../support/pipelines.js";

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const item of opened.splice(0)) await item.close();
});

/** An API with these limits on a fresh prefix, and no worker: runs stay queued. */
function apiWith(limits: Partial<Limits>) {
  const redis = connectRedis(redisUrl(), { blocking: false, name: "test-limits" });
  const prefix = newPrefix();
  const engine = new Engine(redis, prefix, createCatalog([servo("servo-1")], drivers.values()), {
    ...defaultLimits,
    ...limits,
  });
  const app = createApp({ engine, log: quietLog, maxBodyBytes: 1024 * 1024 });
  opened.push({
    async close() {
      await engine.close();
      await redis.quit();
    },
  });
  const submit = (body: unknown) =>
    app.request("/api/runs", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  return { engine, app, submit, prefix };
}

describe("MAX_ACTIVE_RUNS", () => {
  it("refuses a submission once that many runs have not ended: 429 QUEUE_FULL with Retry-After; an ended run makes room", async () => {
    const { engine, submit, prefix } = apiWith({ maxActiveRuns: 2 });
    const pipeline = doc("p", [home("h", "servo-1")]);
    expect((await submit({ pipeline })).status).toBe(202);
    expect((await submit({ pipeline })).status).toBe(202);
    const full = await submit({ pipeline });
    expect(full.status).toBe(429);
    expect(full.headers.get("retry-after")).toBe("10");
    const body = (await full.json()) as { error: { code: string; details: Record<string, unknown> } };
    expect(body.error.code).toBe("QUEUE_FULL");
    expect(body.error.details).toMatchObject({ active_runs: 2, limit: 2 });
    expect((await engine.listRuns({ limit: 10 })).runs).toHaveLength(2);
    // A worker runs them to the end: room again.
    const worker = await startTestWorker(prefix, [servo("servo-1")]);
    opened.push(worker);
    await expect.poll(async () => (await submit({ pipeline })).status, { timeout: 10_000 }).toBe(202);
  });
  it("holds under submissions racing at the limit: exactly as many as it allows are taken", async () => {
    const { engine, submit } = apiWith({ maxActiveRuns: 3 });
    const pipeline = doc("p", [home("h", "servo-1")]);
    const statuses = await Promise.all(
      Array.from({ length: 12 }, async () => (await submit({ pipeline })).status),
    );
    expect(statuses.filter((status) => status === 202)).toHaveLength(3);
    expect(statuses.filter((status) => status === 429)).toHaveLength(9);
    expect((await engine.listRuns({ limit: 20 })).runs).toHaveLength(3);
  });
});

describe("DEFAULT_RUN_TIMEOUT_MS", () => {
  it("gives a run with no timeout of its own a timeout job, which goes once the run ends (completed or cancelled)", async () => {
    const { engine, submit, prefix } = apiWith({});
    const runsQueue = engine.queues.get("runs");
    const { run_id: runId } = (await (
      await submit({ pipeline: doc("p", [home("h", "servo-1")]) })
    ).json()) as {
      run_id: string;
    };
    const timeoutJob = await runsQueue.getJob(`${runId}__timeout__0`);
    expect(timeoutJob?.delay).toBe(86_400_000);
    const worker = await startTestWorker(prefix, [servo("servo-1")]);
    opened.push(worker);
    expect((await engine.waitForRun(runId, 10_000)).status).toBe("completed");
    await expect.poll(() => runsQueue.getDelayedCount(), { timeout: 5000 }).toBe(0);
    const cancelled = (await (await submit({ pipeline: doc("p", [move("m", "servo-1", 100)]) })).json()) as {
      run_id: string;
    };
    await engine.cancelRun(cancelled.run_id);
    expect((await engine.waitForRun(cancelled.run_id, 10_000)).status).toBe("cancelled");
    await expect.poll(() => runsQueue.getDelayedCount(), { timeout: 5000 }).toBe(0);
  });
});

describe("what a document may ask", () => {
  it("a run timeout over MAX_RUN_TIMEOUT_MS in the request is 400 VALIDATION_FAILED naming the field", async () => {
    const { submit } = apiWith({ maxRunTimeoutMs: 60_000 });
    const response = await submit({ pipeline: doc("p", [home("h", "servo-1")]), timeout_ms: 60_001 });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; details: Record<string, unknown> } };
    expect(body.error).toMatchObject({
      code: "VALIDATION_FAILED",
      details: { field: "timeout_ms", limit: 60_000 },
    });
  });
});

describe("MAX_STREAMS_PER_CLIENT", () => {
  it("refuses a client's stream past the limit, WebSocket (upgrade 429) and SSE alike; closing one makes room", async () => {
    const server = await startTestServer(newPrefix(), [servo("servo-1")], { maxStreamsPerClient: 2 });
    opened.push(server);
    const { runId } = await server.engine.submitRun({ document: doc("p", [home("h", "servo-1")]) });
    const first = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
    await new Promise((resolve, reject) => first.once("open", resolve).once("error", reject));
    const stream = await openStream(server.port, `/api/runs/${runId}/events/stream`);
    expect(stream.status).toBe(200);
    const refused = await tryUpgrade(server.port, {});
    expect(refused).toMatchObject({ status: 429, code: "TOO_MANY_STREAMS", retryAfter: "5" });
    const sse = await rawRequest(server.port, "GET", `/api/runs/${runId}/events/stream`);
    expect(sse.status).toBe(429);
    expect(sse.code).toBe("TOO_MANY_STREAMS");
    expect(sse.headers["retry-after"]).toBe("5");
    // Closing a stream gives its place back.
    first.close();
    await expect.poll(async () => (await tryUpgrade(server.port, {})).status, { timeout: 5000 }).toBe(101);
    stream.cut();
    await stream.ended;
    await expect.poll(async () => (await tryUpgrade(server.port, {})).status, { timeout: 5000 }).toBe(101);
  });
});

describe("strict bodies", () => {
  it("refuse __proto__, constructor and prototype keys anywhere, naming the field, and store nothing", async () => {
    const { app, engine } = apiWith({});
    const post = (path: string, body: string) =>
      app.request(path, { method: "POST", headers: { "content-type": "application/json" }, body });
    const cases: [string, string, string][] = [
      [
        "/api/pipelines/save",
        '{"id":"p","nodes":[{"id":"a","device_id":"servo-1","function_id":"move","params":{"__proto__":{"x":1},"position":1}}]}',
        "nodes[0].params.__proto__",
      ],
      [
        "/api/runs",
        '{"pipeline_id":"p","params":{"a":{"constructor":{"prototype":1}}}}',
        "params.a.constructor",
      ],
      ["/api/pipelines/execute", '{"id":"p","nodes":[],"ui":{"prototype":{}}}', "ui.prototype"],
    ];
    for (const [path, body, field] of cases) {
      const response = await post(path, body);
      expect(response.status, field).toBe(400);
      const { error } = (await response.json()) as { error: { code: string; details: { field: string } } };
      expect(error.code, field).toBe("VALIDATION_FAILED");
      expect(error.details.field, field).toBe(field);
    }
    expect(await engine.listPipelines()).toEqual([]);
    expect((await engine.listRuns({ limit: 10 })).runs).toEqual([]);
  });
});
