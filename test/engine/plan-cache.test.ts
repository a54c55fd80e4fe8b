// The worker's plan cache is bounded by the nodes it holds, not by runs: a few huge runs must not
// keep millions of nodes in memory, and many small ones still stay cached.
import { describe, expect, it } from "vitest";
import { PlanCache } from "../../src/engine/redis/plan-cache.js";
import type { RunStore, StoredRun } from "../../src/engine/redis/run-store.js";

/** A run store that only answers loadRun, with a plan of `size` nodes per run id, counting reads. */
function storeOf(sizes: Record<string, number>) {
  const reads: string[] = [];
  const store = {
    loadRun(runId: string): Promise<StoredRun | null> {
      reads.push(runId);
      const nodes = Array.from({ length: sizes[runId] ?? 0 }, (_, i) => ({ id: `n${i}`, deviceId: "d" }));
      return Promise.resolve({ runId, plan: { nodes, reserveDevices: false } } as unknown as StoredRun);
    },
  } as unknown as RunStore;
  return { store, reads };
}

describe("the plan cache", () => {
  it("keeps runs while their nodes fit, and lets the oldest go when a large one comes", async () => {
    const { store, reads } = storeOf({ a: 40, b: 40, c: 40, big: 90 });
    const cache = new PlanCache(store, 100);
    for (const runId of ["a", "b", "a", "b"]) await cache.nodes(runId);
    expect(reads).toEqual(["a", "b"]); // 80 nodes: both kept
    await cache.nodes("c"); // 120 > 100: a, the oldest, goes
    await cache.nodes("b");
    await cache.nodes("a");
    expect(reads).toEqual(["a", "b", "c", "a"]);
    await cache.nodes("big"); // larger than all the rest together: kept alone
    expect((await cache.nodes("big")).size).toBe(90);
    await cache.nodes("c");
    expect(reads).toEqual(["a", "b", "c", "a", "big", "c"]);
  });
});
