import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { connectRedis, createCatalog, defaultLimits, Engine } from "../../src/engine/index.js";
import { createApp } from "../../src/api/app.js";
import { drivers } from "../../src/drivers/registry.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { createTestApi, quietLog, servo, startTestWorker } from "../support/context.js";
import { doc, move, seedDemo, seedDemoAnswer } from "../support/pipelines.js";
import { expectRedisUnavailable } from "../support/http.js";

const devices = [servo("servo-1"), servo("servo-2")];
let api: ReturnType<typeof createTestApi>;
let worker: WorkerHandle;

beforeAll(async () => {
  api = createTestApi(devices);
  worker = await startTestWorker(api.prefix, [servo("servo-1")]);
});
afterAll(async () => {
  await worker.close();
  await api.close();
});

describe("runs over HTTP", () => {
  it("the seed's execute call answers in the seed's shape", async () => {
    const response = await api.post("/api/pipelines/execute", seedDemo);
    expect(response.status).toBe(200);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toMatchObject(seedDemoAnswer);
  });

  it("execute of a saved pipeline by id, and a failure named by node", async () => {
    await api.post("/api/pipelines/save", doc("too_far", [move("reach", "servo-1", 1000)]));
    const response = await api.post("/api/pipelines/execute", { pipeline_id: "too_far" });
    const body = (await response.json()) as { success: boolean; error: { node_id: string; code: string } };
    expect(body.success).toBe(false);
    expect(body.error).toMatchObject({ node_id: "reach", code: "DEVICE_ERROR" });
  });

  it("execute answers 202 with the run id when the wait runs out, and the run goes on", async () => {
    const slow = doc("slow", [
      { id: "crawl", device_id: "servo-1", function_id: "move", params: { position: 20, speed: 40 } },
    ]);
    const response = await api.post("/api/pipelines/execute?timeout_s=0.05", slow);
    expect(response.status).toBe(202);
    const { run_id: runId, status } = (await response.json()) as { run_id: string; status: string };
    expect(["queued", "running"]).toContain(status);
    const run = await api.engine.waitForRun(runId, 10_000);
    expect(run.status).toBe("completed");
  });

  it("a run's record has every contract field", async () => {
    const submitted = await api.post("/api/runs", { pipeline: doc("fields", [move("only", "servo-1", 3)]) });
    expect(submitted.status).toBe(202);
    const { run_id: runId } = (await submitted.json()) as { run_id: string };
    await api.engine.waitForRun(runId, 10_000);
    const run = (await (await api.get(`/api/runs/${runId}`)).json()) as Record<string, unknown>;
    expect(Object.keys(run).sort()).toEqual(
      [
        "run_id",
        "pipeline_id",
        "pipeline_version",
        "status",
        "created_at",
        "started_at",
        "finished_at",
        "execution_time",
        "error",
        "nodes",
        "node_count",
        "node_counts",
      ].sort(),
    );
    expect(run.node_count).toBe(1);
    expect(run.node_counts).toEqual({
      pending: 0,
      queued: 0,
      running: 0,
      completed: 1,
      failed: 0,
      cancelled: 0,
      held: 0,
      skipped: 0,
      waiting: 0,
    });
    const node = (run.nodes as Record<string, Record<string, unknown>>).only ?? {};
    expect(Object.keys(node).sort()).toEqual(
      [
        "node_id",
        "device_id",
        "function_id",
        "status",
        "attempts",
        "outputs",
        "error",
        "started_at",
        "finished_at",
        "execution_time",
      ].sort(),
    );
    const events = (await (await api.get(`/api/runs/${runId}/events`)).json()) as {
      events: { event_id: string; type: string }[];
    };
    const types = events.events.map((e) => e.type);
    expect(types.filter((t) => t !== "node_progress")).toEqual([
      "pipeline_started",
      "node_executing",
      "node_completed",
      "pipeline_completed",
    ]);
    const progress = types.flatMap((t, i) => (t === "node_progress" ? [i] : []));
    expect(progress.length).toBeGreaterThan(0);
    expect(Math.min(...progress)).toBeGreaterThan(types.indexOf("node_executing"));
    expect(Math.max(...progress)).toBeLessThan(types.indexOf("node_completed"));
    const first = events.events[0]?.event_id ?? "";
    const after = (await (await api.get(`/api/runs/${runId}/events?after=${first}`)).json()) as {
      events: unknown[];
    };
    expect(after.events).toHaveLength(events.events.length - 1);
    expect((await api.get(`/api/runs/${runId}/events?after=nonsense`)).status).toBe(400);
  });

  it("lists runs newest first, filtered, in pages", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const response = await api.post("/api/runs", { pipeline: doc("paged", [move("m", "servo-1", i)]) });
      ids.push(((await response.json()) as { run_id: string }).run_id);
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/api/runs?pipeline_id=paged&limit=2${cursor ? `&cursor=${cursor}` : ""}`;
      const page = (await (await api.get(query)).json()) as {
        runs: { run_id: string }[];
        next_cursor: string | null;
      };
      seen.push(...page.runs.map((r) => r.run_id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    await Promise.all(ids.map((id) => api.engine.waitForRun(id, 10_000)));
  });
});

describe("devices and functions", () => {
  it("shows hosted devices live and the others offline", async () => {
    // Activity is reported within a second; runs of the tests above may still be settling.
    await vi.waitFor(
      async () => {
        const body = (await (await api.get("/api/devices")).json()) as { devices: Record<string, unknown>[] };
        expect(body.devices).toEqual([
          expect.objectContaining({
            device_id: "servo-1",
            driver: "mock-servo",
            status: "idle",
            capacity: 1,
            worker_id: worker.workerId,
          }),
          expect.objectContaining({ device_id: "servo-2", status: "offline", worker_id: null }),
        ]);
      },
      { timeout: 2000, interval: 50 },
    );
  });

  it("shows what a busy device is doing, within a second", async () => {
    const slow = doc("busy", [
      { id: "crawl", device_id: "servo-1", function_id: "move", params: { position: 150, speed: 20 } },
    ]);
    const { runId } = await api.engine.submitRun({ document: slow });
    await vi.waitFor(
      async () => {
        const body = (await (await api.get("/api/devices")).json()) as {
          devices: { device_id: string; status: string; current: string[] }[];
        };
        expect(body.devices[0]).toMatchObject({
          device_id: "servo-1",
          status: "busy",
          current: [`${runId}/crawl: move`],
        });
      },
      { timeout: 1000, interval: 50 },
    );
    await api.post(`/api/runs/${runId}/cancel`, {});
    expect((await api.engine.waitForRun(runId, 5000)).status).toBe("cancelled");
  });

  it("lists every function with its parameter schema, outputs, idempotency, timeout and retry", async () => {
    const body = (await (await api.get("/api/functions")).json()) as {
      drivers: { driver: string; functions: Record<string, unknown>[] }[];
    };
    const move = body.drivers
      .find((d) => d.driver === "mock-servo")
      ?.functions.find((f) => f.function_id === "move");
    expect(move).toMatchObject({
      idempotent: true,
      timeout_ms: 60_000,
      retry: { attempts: 1 },
    });
    expect(Object.keys(move?.outputs ?? {}).sort()).toEqual(["complete", "position"]);
    expect(move?.params).toMatchObject({ type: "object", required: ["position"] });
  });
});

describe("health", () => {
  // A cluster's client has no per-command retry limit: were it to queue commands until it is
  // ready, a request would wait for as long as the cluster is down.
  it.each([
    { redisIs: "a server", cluster: false, prefix: "dead" },
    { redisIs: "a cluster (REDIS_CLUSTER=1)", cluster: true, prefix: "{dead}" },
  ])(
    "readyz answers 503 and the API 503 REDIS_UNAVAILABLE at once when $redisIs is unreachable",
    async ({ cluster, prefix }) => {
      const redis = connectRedis("redis://127.0.0.1:1", { blocking: false, name: "dead", cluster });
      redis.on("error", () => undefined);
      const engine = new Engine(redis, prefix, createCatalog(devices, drivers.values()), defaultLimits);
      const app = createApp({ engine, log: quietLog, maxBodyBytes: 1024 * 1024 });
      try {
        expect((await app.request("/healthz")).status).toBe(200);
        expect((await app.request("/readyz")).status).toBe(503);
        await expectRedisUnavailable(await app.request("/api/runs"));
      } finally {
        await engine.close();
        redis.disconnect();
      }
    },
  );
});
