// RUN_RETENTION_S: an ended run's record, node states, outputs, events, BullMQ jobs and index
// entries are removed once its retention has passed, by bounded steps; nothing else is touched.
import type { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { RunRetentionSweeper } from "../../src/engine/redis/run-retention.js";
import { PlanStore } from "../../src/engine/redis/plan-store.js";
import { loadScripts } from "../../src/engine/redis/scripts.js";
import { startRedisServer } from "../../src/infra/redis-server.js";
import type { Engine } from "../../src/engine/index.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { createTestApi, servo, startTestWorker } from "../support/context.js";
import { doc, home, move } from "../support/pipelines.js";

const opened: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of opened.splice(0).reverse()) await close();
});

async function rig(
  workerRetention = { runRetentionS: 0, sweepIntervalMs: 60_000 },
  /** A Redis of the test's own (one it fills up); the shared one by default. */
  ownRedisUrl?: string,
) {
  // servo-2 fails its first move: a run that fails, then completes when resumed.
  const devices = [
    servo("servo-1"),
    servo("servo-2", { fail_first: { move: 1 } }),
    servo("servo-3", { speed: 1 }), // a move of 100 takes 100 s
  ];
  const api = createTestApi(devices, ownRedisUrl === undefined ? {} : { redisUrl: ownRedisUrl });
  opened.push(() => api.close());
  const worker: WorkerHandle = await startTestWorker(api.prefix, devices, {
    runRetention: workerRetention,
    ...(ownRedisUrl === undefined ? {} : { redisUrl: ownRedisUrl }),
  });
  opened.push(() => worker.close());
  return api;
}

/** A sweeper of the test's own, as a worker makes one, with its own retention. */
function sweeperFor(api: Awaited<ReturnType<typeof rig>>, runRetentionS: number) {
  return new RunRetentionSweeper(
    api.redis,
    api.engine.keys,
    api.engine.queues,
    api.engine.runs,
    { runRetentionS, sweepIntervalMs: 60_000 },
    "test-sweeper",
  );
}

async function runToEnd(engine: Engine, document: unknown) {
  const { runId } = await engine.submitRun({ document });
  return engine.waitForRun(runId, 20_000);
}

/** Every key of the prefix, and every member or field of a set, list or hash, that names the run. */
async function tracesOf(redis: Redis, prefix: string, runId: string): Promise<string[]> {
  const found: string[] = [];
  for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 1000 })) {
    for (const key of keys as string[]) {
      if (key.includes(runId)) found.push(key);
      const type = await redis.type(key);
      const members =
        type === "zset"
          ? await redis.zrange(key, 0, -1)
          : type === "set"
            ? await redis.smembers(key)
            : type === "list"
              ? await redis.lrange(key, 0, -1)
              : type === "hash"
                ? await redis.hkeys(key)
                : [];
      for (const member of members) if (member.includes(runId)) found.push(`${key} ∋ ${member}`);
    }
  }
  return found;
}

/** Steps the sweeper until it has removed `count` runs (their retention passing meanwhile). */
async function sweepUntilRemoved(sweeper: RunRetentionSweeper, count: number, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  let removed = 0;
  while (removed < count) {
    if (Date.now() > deadline) throw new Error(`removed ${removed} of ${count} runs in ${timeoutMs} ms`);
    const step = await sweeper.step();
    removed += step.removed;
    if (step.removed === 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return removed;
}

describe("run retention", () => {
  it("removes an ended run's record, nodes, outputs, events, jobs and index entries, and nothing else", async () => {
    const api = await rig();
    const chain = doc(
      "chain",
      [home("a", "servo-1"), move("b", "servo-1", 30)],
      [{ source: "a", target: "b" }],
    );
    const gone = await runToEnd(api.engine, chain);
    expect(gone.status).toBe("completed");
    expect((await tracesOf(api.redis, api.prefix, gone.runId)).length).toBeGreaterThan(10);

    // A run still going (a long move) has not ended, so it is never removed.
    const slow = await api.engine.submitRun({ document: doc("slow", [move("m", "servo-3", 100)]) });
    const sweeper = sweeperFor(api, 1);
    expect(await sweepUntilRemoved(sweeper, 1)).toBe(1);

    expect(await tracesOf(api.redis, api.prefix, gone.runId)).toEqual([]);
    const response = await api.get(`/api/runs/${gone.runId}`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe("RUN_NOT_FOUND");
    expect((await api.engine.listRuns({ limit: 10 })).runs.map((run) => run.runId)).toEqual([slow.runId]);
    expect((await api.engine.getRun(slow.runId)).status).toMatch(/queued|running/);
    // The pipeline itself stays: retention is of runs.
    expect((await api.get("/api/runs?pipeline_id=chain")).status).toBe(200);
    await api.engine.cancelRun(slow.runId);
  });

  it("leaves a run resumed after its retention passed, until it ends again and its new retention passes", async () => {
    const api = await rig();
    const failing = await runToEnd(api.engine, doc("flaky", [move("m", "servo-2", 10)]));
    expect(failing.status).toBe("failed");
    const sweeper = sweeperFor(api, 2);
    // Its retention passes (2 s on Redis's clock), then it is resumed before a step takes it.
    const endedAt = Number(await api.redis.zscore(api.engine.keys.endedRuns, failing.runId));
    await waitForRedisClock(api.redis, endedAt + 2100);
    await api.engine.resumeRun(failing.runId);
    expect(await api.redis.zscore(api.engine.keys.endedRuns, failing.runId)).toBeNull();
    const resumed = await api.engine.waitForRun(failing.runId, 20_000);
    expect(resumed.status).toBe("completed");
    const step = await sweeper.step();
    expect(step.removed).toBe(0);
    expect((await api.engine.getRun(failing.runId)).status).toBe("completed");
    expect(await sweepUntilRemoved(sweeper, 1)).toBe(1);
    expect(await tracesOf(api.redis, api.prefix, failing.runId)).toEqual([]);
  });

  it("stores a plan once for the runs that share it, and removes it with the last of them", async () => {
    const api = await rig();
    expect((await api.post("/api/pipelines/save", doc("shared", [home("h", "servo-1")]))).status).toBe(201);
    const first = await api.engine.waitForRun(
      (await api.engine.submitRun({ pipelineId: "shared" })).runId,
      20_000,
    );
    const second = await api.engine.waitForRun(
      (await api.engine.submitRun({ pipelineId: "shared" })).runId,
      20_000,
    );
    const planIds = await Promise.all(
      [first, second].map((run) => api.redis.hget(api.engine.keys.run(run.runId), "plan_id")),
    );
    expect(planIds[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(planIds[1]).toBe(planIds[0]);
    const planKey = api.engine.keys.plan(planIds[0] ?? "");
    expect(await api.redis.hget(planKey, "refs")).toBe("2");
    // Neither the document nor the plan is copied into the run's record.
    expect(await api.redis.hmget(api.engine.keys.run(first.runId), "document", "plan")).toEqual([null, null]);

    // A run recorded before plans were shared (its plan inline) still reads back.
    const older = await api.engine.waitForRun(
      (await api.engine.submitRun({ pipelineId: "shared" })).runId,
      20_000,
    );
    const plan = await api.redis.hget(planKey, "json");
    await api.redis.hset(api.engine.keys.run(older.runId), "plan", plan ?? "", "plan_id", "");
    await api.redis.hincrby(planKey, "refs", -1);
    expect((await api.engine.getRun(older.runId)).nodes.map((node) => node.status)).toEqual(["completed"]);

    const sweeper = sweeperFor(api, 1);
    expect(await sweepUntilRemoved(sweeper, 3)).toBe(3);
    expect(await api.redis.exists(planKey)).toBe(0);
  });

  it("frees a Redis that refuses writes for memory: the removal deletes before it writes", async () => {
    const server = await startRedisServer();
    opened.push(() => server.stop());
    const api = await rig(undefined, server.url);
    const runIds: string[] = [];
    for (const position of [10, 20, 30, 40, 50, 60]) {
      const run = await runToEnd(api.engine, doc(`full-${position}`, [move("m", "servo-1", position)]));
      runIds.push(run.runId);
    }
    const last = Number(await api.redis.zscore(api.engine.keys.endedRuns, runIds.at(-1) ?? ""));
    await waitForRedisClock(api.redis, last + 1100);
    // The scripts a step sends, loaded first (Redis keeps each script it is sent, which takes room).
    await sweeperFor(api, 3600).step();
    await api.engine.runs.remove("run_none", "any");
    await api.engine.queues.runs().remove("none");
    // Just full (noeviction): every write that needs memory is refused...
    const used = Number((await api.redis.info("memory")).match(/used_memory:(\d+)/)?.[1]);
    await api.redis.config("SET", "maxmemory", String(used - 1000));
    await expect(api.redis.set("probe", "x".repeat(100))).rejects.toThrow(/OOM/);
    try {
      expect(await sweeperFor(api, 1).step()).toEqual({ removed: 6, more: false });
      // ...until the retention has made room, under the same limit.
      expect(await api.redis.set("probe", "x".repeat(100))).toBe("OK");
    } finally {
      await api.redis.config("SET", "maxmemory", "0");
    }
    for (const runId of runIds) expect(await tracesOf(api.redis, api.prefix, runId)).toEqual([]);
  });

  it("answers a replayed Idempotency-Key whose run was removed 404 RUN_NOT_FOUND, and runs nothing again", async () => {
    const api = await rig();
    const body = { pipeline: doc("once", [home("h", "servo-1")]) };
    const first = await api.post("/api/runs", body, { "idempotency-key": "k-1" });
    const { run_id: runId } = (await first.json()) as { run_id: string };
    await api.engine.waitForRun(runId, 20_000);
    expect(await api.engine.runs.remove(runId, "any")).toBe(true);
    // The key was claimed a while ago (not by a request still making its run).
    await api.redis.expire(api.engine.keys.idempotency("k-1"), 24 * 3600 - 120);
    const replay = await api.post("/api/runs", body, { "idempotency-key": "k-1" });
    expect(replay.status).toBe(404);
    const { error } = (await replay.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("RUN_NOT_FOUND");
    expect(error.message).toMatch(/removed/);
    expect(await api.redis.zcard(api.engine.keys.runs)).toBe(0);
  });

  it("counts a plan reference once however often its script is sent, and a resent admission answers as the first", async () => {
    const api = await rig();
    const plans = new PlanStore(api.redis, api.engine.keys);
    const plan = emptyPlan("p");
    const planId = await plans.reference("run_resent", plan);
    expect(await plans.reference("run_resent", plan)).toBe(planId);
    expect(await api.redis.hget(api.engine.keys.plan(planId), "refs")).toBe("1");
    expect(await api.engine.runs.admit("run_admitted", 1)).toEqual({ admitted: true, active: 0 });
    expect(await api.engine.runs.admit("run_admitted", 1)).toEqual({ admitted: true, active: 0 });
    expect(await api.engine.runs.admit("run_other", 1)).toEqual({ admitted: false, active: 1 });
  });

  it("lets a plan whose creator died before referencing it expire, and keeps a referenced one", async () => {
    const api = await rig();
    const plans = new PlanStore(api.redis, api.engine.keys);
    const plan = emptyPlan("q");
    const planId = await plans.reference("run_kept", plan);
    const planKey = api.engine.keys.plan(planId);
    expect(await api.redis.ttl(planKey)).toBe(-1); // referenced: kept while its runs are
    expect(await api.redis.hget(planKey, "json")).toBe(JSON.stringify(plan));

    // Another plan: its creator asked, was told to write the JSON, wrote it, and died there.
    const scripts = loadScripts(api.redis);
    const orphanKey = api.engine.keys.plan("orphan");
    const runKey = api.engine.keys.run("run_died");
    expect(await scripts["plan-reference"]([runKey, orphanKey], ["orphan", 3600])).toBe(-1);
    await api.redis.hsetnx(orphanKey, "json", "{}");
    const ttl = await api.redis.ttl(orphanKey);
    expect(ttl).toBeGreaterThan(3500);
    expect(ttl).toBeLessThanOrEqual(3600);
    // Had it lived, its next call would have taken the reference and kept the plan.
    expect(await scripts["plan-reference"]([runKey, orphanKey], ["orphan", 3600])).toBe(1);
    expect(await api.redis.ttl(orphanKey)).toBe(-1);
    expect(await api.redis.hget(orphanKey, "refs")).toBe("1");
  });

  it("takes bounded steps: at most 100 runs each, saying when more are due", async () => {
    const api = await rig();
    const runIds: string[] = [];
    for (let i = 0; i < 130; i += 1) {
      runIds.push((await api.engine.submitRun({ document: doc("one", [home("h", "servo-1")]) })).runId);
    }
    for (const runId of runIds) expect((await api.engine.waitForRun(runId, 30_000)).status).toBe("completed");
    const last = Number(await api.redis.zscore(api.engine.keys.endedRuns, runIds.at(-1) ?? ""));
    await waitForRedisClock(api.redis, last + 1100);
    const sweeper = sweeperFor(api, 1);
    expect(await sweeper.step()).toEqual({ removed: 100, more: true });
    expect(await sweeper.step()).toEqual({ removed: 30, more: false });
    expect(await api.redis.zcard(api.engine.keys.runs)).toBe(0);
    expect(await api.redis.zcard(api.engine.keys.runsByStatus("completed"))).toBe(0);
  });

  it("is done by the workers, as RUN_RETENTION_S and RUN_SWEEP_INTERVAL_MS say", async () => {
    const api = await rig({ runRetentionS: 1, sweepIntervalMs: 200 });
    const { runId } = await runToEnd(api.engine, doc("quick", [home("h", "servo-1")]));
    const deadline = Date.now() + 15_000;
    while ((await api.get(`/api/runs/${runId}`)).status !== 404) {
      if (Date.now() > deadline) throw new Error("the worker did not remove the run");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await tracesOf(api.redis, api.prefix, runId)).toEqual([]);
  });
});

/** Waits until Redis's clock (which the retention is measured on) reads at least `ms`. */
async function waitForRedisClock(redis: Redis, ms: number): Promise<void> {
  for (;;) {
    const [seconds, micros] = await redis.time();
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    if (now >= ms) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(100, ms - now)));
  }
}

/** A plan of no nodes, for tests of the plan store alone. */
function emptyPlan(pipelineId: string): Parameters<PlanStore["reference"]>[1] {
  return { pipelineId, pipelineName: pipelineId, nodes: [] } as unknown as Parameters<
    PlanStore["reference"]
  >[1];
}
