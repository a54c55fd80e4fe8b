// A run list filtered by pipeline or status reads that pipeline's or status's index, not every run;
// runs made before the indexes existed are added to them once.
import { afterEach, describe, expect, it } from "vitest";
import { drivers } from "../../src/drivers/registry.js";
import { connectRedis, createCatalog, defaultLimits, Engine } from "../../src/engine/index.js";
import { newPrefix, redisUrl, servo, startTestWorker } from "../support/context.js";
import { doc, home, move } from "../support/pipelines.js";

const opened: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of opened.splice(0)) await close();
});

function engineOn(prefix: string) {
  const redis = connectRedis(redisUrl(), { blocking: false, name: "test-run-index" });
  const engine = new Engine(
    redis,
    prefix,
    createCatalog([servo("servo-1"), servo("servo-2")], drivers.values()),
    defaultLimits,
  );
  opened.push(async () => {
    await engine.close();
    await redis.quit();
  });
  return { engine, redis };
}

describe("runs filtered by pipeline", () => {
  it("come from the pipeline's own index, newest first, paged; runs made before it are indexed once", async () => {
    const prefix = newPrefix();
    const { engine, redis } = engineOn(prefix);
    const made: Record<string, string[]> = { a: [], b: [] };
    for (let i = 0; i < 12; i += 1) {
      const id = i % 3 === 0 ? "a" : "b";
      made[id]?.push((await engine.submitRun({ document: doc(id, [home("h", "servo-1")]) })).runId);
    }
    const all = async (e: Engine, pipelineId: string) => {
      const seen: string[] = [];
      let cursor: number | undefined;
      for (;;) {
        const page = await e.listRuns({ pipelineId, limit: 2, ...(cursor === undefined ? {} : { cursor }) });
        seen.push(...page.runs.map((run) => run.runId));
        if (page.nextCursor === null) return seen;
        cursor = page.nextCursor;
      }
    };
    expect(await all(engine, "a")).toEqual([...(made.a ?? [])].reverse());
    expect(await all(engine, "b")).toEqual([...(made.b ?? [])].reverse());
    expect(await redis.zcard(engine.keys.pipelineRuns("a"))).toBe(4);

    // As a Redis written before the index: no index, no marker. A fresh process indexes them once.
    await redis.del(
      engine.keys.pipelineRuns("a"),
      engine.keys.pipelineRuns("b"),
      engine.keys.runIndexesVersion,
    );
    const { engine: later } = engineOn(prefix);
    expect(await all(later, "a")).toEqual([...(made.a ?? [])].reverse());
    expect(await redis.get(engine.keys.runIndexesVersion)).toBe("2");
    expect(await redis.zcard(engine.keys.pipelineRuns("b"))).toBe(8);
  });

  it("filtered by status come from the status's index, which follows every change of status", async () => {
    const prefix = newPrefix();
    const { engine, redis } = engineOn(prefix);
    const devices = [servo("servo-1"), servo("servo-2", { fail_first: { move: 1 } })];
    const submit = async (document: unknown) => (await engine.submitRun({ document })).runId;
    const queued = await submit(doc("q", [home("h", "servo-1")])); // no worker yet: stays queued
    const statusesOf = async (e: Engine) => {
      const listed: Record<string, string[]> = {};
      for (const status of ["queued", "running", "completed", "failed", "cancelled"] as const) {
        listed[status] = (await e.listRuns({ status, limit: 100 })).runs.map((run) => run.runId);
      }
      return listed;
    };
    expect((await statusesOf(engine)).queued).toEqual([queued]);

    const worker = await startTestWorker(prefix, devices);
    opened.push(() => worker.close());
    const completed = await engine.waitForRun(await submit(doc("c", [home("h", "servo-1")])), 20_000);
    const failed = await engine.waitForRun(await submit(doc("f", [move("m", "servo-2", 5)])), 20_000);
    expect([completed.status, failed.status]).toEqual(["completed", "failed"]);
    await engine.waitForRun(queued, 20_000);
    const expected = {
      queued: [],
      running: [],
      completed: [completed.runId, queued],
      failed: [failed.runId],
      cancelled: [],
    };
    expect(await statusesOf(engine)).toEqual(expected);
    expect(await redis.zcard(engine.keys.endedRuns)).toBe(3);
    // /metrics counts runs by status from the same indexes.
    const counts = engine.createRunStatusCounts();
    expect(await counts.counts()).toEqual({
      queued: 0,
      running: 0,
      paused: 0,
      held: 0,
      completed: 2,
      failed: 1,
      cancelled: 0,
    });

    // Resumed, a failed run leaves the failed index (and the ended runs) and comes back completed.
    await engine.resumeRun(failed.runId);
    expect((await engine.waitForRun(failed.runId, 20_000)).status).toBe("completed");
    const afterResume = { ...expected, completed: [failed.runId, completed.runId, queued], failed: [] };
    expect(await statusesOf(engine)).toEqual(afterResume);
    expect(await counts.counts()).toMatchObject({ completed: 3, failed: 0 });

    // A Redis written before these indexes: a fresh process puts every run where it belongs, once.
    const statusKeys = ["queued", "running", "completed", "failed", "cancelled"].map((status) =>
      engine.keys.runsByStatus(status),
    );
    await redis.del(...statusKeys, engine.keys.endedRuns, engine.keys.runIndexesVersion);
    const { engine: later } = engineOn(prefix);
    expect(await statusesOf(later)).toEqual(afterResume);
    expect(await later.createRunStatusCounts().counts()).toMatchObject({ completed: 3, failed: 0 });
    expect(await redis.zcard(engine.keys.endedRuns)).toBe(3);
  });
});
