// A run list filtered by pipeline reads that pipeline's index, not every run; runs made before the
// index existed are added to it once.
import { afterEach, describe, expect, it } from "vitest";
import { drivers } from "../../src/drivers/registry.js";
import { connectRedis, createCatalog, defaultLimits, Engine } from "../../src/engine/index.js";
import { newPrefix, redisUrl, servo } from "../support/context.js";
import { doc, home } from "../support/pipelines.js";

const opened: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of opened.splice(0)) await close();
});

function engineOn(prefix: string) {
  const redis = connectRedis(redisUrl(), { blocking: false, name: "test-run-index" });
  const engine = new Engine(
    redis,
    prefix,
    createCatalog([servo("servo-1")], drivers.values()),
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
      engine.keys.pipelineRunsIndexed,
    );
    const { engine: later } = engineOn(prefix);
    expect(await all(later, "a")).toEqual([...(made.a ?? [])].reverse());
    expect(await redis.get(engine.keys.pipelineRunsIndexed)).toBe("1");
    expect(await redis.zcard(engine.keys.pipelineRuns("b"))).toBe(8);
  });
});
