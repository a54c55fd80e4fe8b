import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/api/app.js";
import { readConfig } from "../../src/config.js";
import { drivers } from "../../src/drivers/registry.js";
import type { DeviceConfig } from "../../src/drivers/types.js";
import {
  connectRedis,
  createCatalog,
  defaultEventRetention,
  defaultLimits,
  Engine,
  type EventRetention,
} from "../../src/engine/index.js";
import { appendProgress } from "../../src/engine/redis/progress.js";
import { startWorker } from "../../src/worker/worker.js";
import { newPrefix, quietLog, redisUrl, servo } from "../support/context.js";
import { doc, move } from "../support/pipelines.js";

const devices = [
  servo("servo-1", { speed: 4000 }),
  servo("flaky-1", { speed: 4000, fail_first: { move: 1 } }),
];
const once = { retry: { attempts: 1, backoff_ms: 0 } };
const flaky = doc(
  "retention_flaky",
  [move("a", "servo-1", 10), { ...move("b", "flaky-1", 20), ...once }],
  [{ source: "a", target: "b" }],
);

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** An engine, its app, and (unless told not to) a worker, all keeping run streams as `retention` says. */
function rig(retention: EventRetention, devicesHere: DeviceConfig[] = devices) {
  const prefix = newPrefix();
  const redis = connectRedis(redisUrl(), { blocking: false, name: "test-retention" });
  cleanup.push(() => redis.quit());
  const engine = new Engine(
    redis,
    prefix,
    createCatalog(devicesHere, drivers.values()),
    defaultLimits,
    retention,
  );
  cleanup.push(() => engine.close());
  const app = createApp({ engine, log: quietLog, maxBodyBytes: 1024 * 1024 });
  const startTestWorker = async (hosted = devicesHere) => {
    const worker = await startWorker({
      redisUrl: redisUrl(),
      prefix,
      devices: hosted,
      drivers,
      log: quietLog,
      eventRetention: retention,
    });
    cleanup.push(() => worker.close());
    return worker;
  };
  return {
    redis,
    engine,
    app,
    startWorker: startTestWorker,
    streamKey: (runId: string) => engine.keys.runEvents(runId),
  };
}

describe("event retention", () => {
  it("reads RUN_EVENTS_MAX and RUN_EVENTS_TTL_S (default 10000 entries, 7 days)", () => {
    expect(readConfig({}).eventRetention).toEqual(defaultEventRetention);
    expect(defaultEventRetention).toEqual({ runEventsMax: 10_000, runEventsTtlS: 604_800 });
    expect(readConfig({ RUN_EVENTS_MAX: "500", RUN_EVENTS_TTL_S: "0" }).eventRetention).toEqual({
      runEventsMax: 500,
      runEventsTtlS: 0,
    });
    expect(() => readConfig({ RUN_EVENTS_MAX: "0" })).toThrow(/RUN_EVENTS_MAX/);
    expect(() => readConfig({ RUN_EVENTS_TTL_S: "-1" })).toThrow(/RUN_EVENTS_TTL_S/);
  });

  it("caps a run's stream at about RUN_EVENTS_MAX entries, dropping the oldest", async () => {
    const { redis, engine, streamKey } = rig({ runEventsMax: 10, runEventsTtlS: 60 });
    const ref = { runId: "run_capped", pipelineId: "p", nodeId: "n", epoch: 0, deviceId: "d", fence: "" };
    for (let i = 0; i < 400; i += 1) {
      await appendProgress(redis, engine.keys, ref, i / 400, `step ${i}`, {
        runEventsMax: 10,
        runEventsTtlS: 60,
      });
    }
    // MAXLEN ~ trims whole stream nodes (100 entries by default): at least 10 are kept, never 400.
    const length = await redis.xlen(streamKey(ref.runId));
    expect(length).toBeGreaterThanOrEqual(10);
    expect(length).toBeLessThanOrEqual(110);
    const [newest] = await redis.xrevrange(streamKey(ref.runId), "+", "-", "COUNT", 1);
    expect(newest?.[1][1]).toContain('"message":"step 399"');
    // The global stream keeps its own, larger cap: every one of these is still there.
    expect(await redis.xlen(engine.keys.events)).toBe(400);
  });

  it("lets a run's stream expire RUN_EVENTS_TTL_S after the run ends, and a resume keeps it (PERSIST)", async () => {
    const { redis, engine, startWorker, streamKey } = rig({
      runEventsMax: 10_000,
      runEventsTtlS: 3600,
    });
    const worker = await startWorker();
    const { runId } = await engine.submitRun({ document: flaky });
    const failed = await engine.waitForRun(runId, 10_000);
    expect(failed.status).toBe("failed");
    const ttl = await redis.ttl(streamKey(runId));
    expect(ttl).toBeGreaterThan(3500);
    expect(ttl).toBeLessThanOrEqual(3600);

    // No worker: the resumed run stays running, and its stream must not expire under it.
    await worker.close();
    expect(await engine.resumeRun(runId)).toBe("running");
    expect(await redis.ttl(streamKey(runId))).toBe(-1);
    expect((await engine.runEvents(runId)).at(-1)?.type).toBe("pipeline_resumed");

    // A worker whose flaky-1 no longer fails: the resumed run completes, and its stream expires again.
    await startWorker([devices[0] as DeviceConfig, servo("flaky-1", { speed: 4000 })]);
    expect((await engine.waitForRun(runId, 10_000)).status).toBe("completed");
    expect(await redis.ttl(streamKey(runId))).toBeGreaterThan(3500);
  });

  it("RUN_EVENTS_TTL_S=0 keeps an ended run's stream for ever", async () => {
    const { redis, engine, startWorker, streamKey } = rig({ runEventsMax: 10_000, runEventsTtlS: 0 });
    await startWorker();
    const { runId } = await engine.submitRun({ document: doc("retention_keep", [move("a", "servo-1", 5)]) });
    expect((await engine.waitForRun(runId, 10_000)).status).toBe("completed");
    expect(await redis.ttl(streamKey(runId))).toBe(-1);
  });

  it("answers an ended run whose stream expired with no events and expired: true; the run stays", async () => {
    const { redis, app, engine, startWorker, streamKey } = rig({
      runEventsMax: 10_000,
      runEventsTtlS: 1,
    });
    await startWorker();
    const { runId } = await engine.submitRun({ document: doc("retention_gone", [move("a", "servo-1", 5)]) });
    expect((await engine.waitForRun(runId, 10_000)).status).toBe("completed");
    const before = (await (await app.request(`/api/runs/${runId}/events`)).json()) as { events: unknown[] };
    expect(before.events.length).toBeGreaterThan(0);

    // Redis expires the stream about a second after the run ended.
    await vi.waitFor(async () => expect(await redis.exists(streamKey(runId))).toBe(0), {
      timeout: 5000,
      interval: 100,
    });
    const response = await app.request(`/api/runs/${runId}/events`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ events: [], next_after: null, expired: true });
    const stream = await app.request(`/api/runs/${runId}/events`, {
      headers: { accept: "text/event-stream" },
    });
    expect(stream.status).toBe(204);
    const run = await app.request(`/api/runs/${runId}`);
    expect(run.status).toBe(200);
    expect(await run.json()).toMatchObject({ run_id: runId, status: "completed" });
  });

  it("a run not yet started has no stream, and that is not expired", async () => {
    const { app, engine } = rig({ runEventsMax: 10_000, runEventsTtlS: 1 });
    const { runId } = await engine.submitRun({
      document: doc("retention_queued", [move("a", "servo-1", 5)]),
    });
    const response = await app.request(`/api/runs/${runId}/events`);
    expect(await response.json()).toEqual({ events: [], next_after: null, expired: false });
  });
});
