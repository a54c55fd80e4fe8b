import type { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { connectRedis, redisKeys, type RedisKeys } from "../../src/engine/index.js";
import { RunStatusCounts } from "../../src/engine/redis/run-status-counts.js";
import type { RunStatus } from "../../src/engine/run/types.js";
import { newPrefix, redisUrl } from "../support/context.js";

// RunStatusCounts reads run records straight from Redis: these tests write the records themselves
// (a run's hash and its place in the runs index), as the ledger would, and change them under it.

/** Past this many touched runs, touch drops them and asks for a read of every run (as in the source). */
const maxTouched = 50_000;

let redis: Redis;
let keys: RedisKeys;
let sequence = 0;

beforeAll(() => {
  redis = connectRedis(redisUrl(), { blocking: false, name: "test-run-status-counts" });
});
afterAll(async () => {
  await redis.quit();
});
beforeEach(() => {
  keys = redisKeys(newPrefix());
});

async function addRun(runId: string, status: RunStatus): Promise<void> {
  sequence += 1;
  await redis.hset(keys.run(runId), "status", status);
  await redis.zadd(keys.runs, sequence, runId);
}
const setStatus = (runId: string, status: RunStatus) => redis.hset(keys.run(runId), "status", status);

describe("RunStatusCounts", () => {
  it("reads only what changed between full reads: an ended run no event names keeps its count", async () => {
    await addRun("run_a", "completed");
    const counts = new RunStatusCounts(redis, keys);
    expect(await counts.counts()).toMatchObject({ completed: 1, failed: 0 });
    // Changed behind its back with no event: not read again (this is what touch is for)...
    await setStatus("run_a", "failed");
    expect(await counts.counts()).toMatchObject({ completed: 1, failed: 0 });
    // ...and read once an event names it.
    counts.touch("run_a");
    expect(await counts.counts()).toMatchObject({ completed: 0, failed: 1 });
  });

  it("keeps the runs events named when Redis fails part way through a count, and reads them next time", async () => {
    await addRun("run_b", "failed");
    const counts = new RunStatusCounts(redis, keys);
    expect(await counts.counts()).toMatchObject({ failed: 1, running: 0 });

    await setStatus("run_b", "running"); // resumed
    counts.touch("run_b");
    // The active-runs set of the wrong type: Redis answers WRONGTYPE in the middle of the read.
    await redis.set(keys.activeRuns, "not a set");
    await expect(counts.counts()).rejects.toThrow(/WRONGTYPE/);

    await redis.del(keys.activeRuns);
    expect(await counts.counts()).toMatchObject({ failed: 0, running: 1 });
  });

  it("reads every run again after touch overflowed during a full read, not only at the next period", async () => {
    await addRun("run_c", "completed");
    await addRun("run_d", "running");
    const counts = new RunStatusCounts(redis, keys);
    // The first count reads every run; before its first reply comes, more runs are touched than
    // touch keeps (run_c among them), so the names are dropped.
    const first = counts.counts();
    counts.touch("run_c");
    for (let index = 0; index < maxTouched; index += 1) counts.touch(`run_x${index}`);
    expect(await first).toMatchObject({ completed: 1, running: 1 });

    // run_c changed, and its event was among the dropped: only a full read finds it.
    await setStatus("run_c", "failed");
    expect(await counts.counts()).toMatchObject({ completed: 0, failed: 1, running: 1 });

    // That full read started after the overflow, so counting goes back to reading only changes.
    await setStatus("run_c", "cancelled");
    expect(await counts.counts()).toMatchObject({ failed: 1, cancelled: 0 });
  });

  it("answers scrapes at once from one read, each with every run (a full read takes several pages)", async () => {
    const pipeline = redis.pipeline();
    for (let index = 0; index < 2500; index += 1) {
      sequence += 1;
      pipeline.hset(keys.run(`run_p${index}`), "status", index < 2000 ? "completed" : "failed");
      pipeline.zadd(keys.runs, sequence, `run_p${index}`);
    }
    await pipeline.exec();
    const counts = new RunStatusCounts(redis, keys);
    const pages = vi.spyOn(redis, "zrangebyscore");
    try {
      const all = await Promise.all([counts.counts(), counts.counts(), counts.counts()]);
      for (const each of all) {
        expect(each).toEqual({ queued: 0, running: 0, completed: 2000, failed: 500, cancelled: 0 });
      }
      // One read of the runs index: pages of 1,000, 1,000 and 500.
      expect(pages).toHaveBeenCalledTimes(3);
    } finally {
      pages.mockRestore();
    }
  });
});
