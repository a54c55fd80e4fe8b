// A Redis out of memory (maxmemory, noeviction) refuses every write, the worker's too: its record
// of a finished command, BullMQ's lock renewals and its device lease renewals. A command that ends
// on the device meanwhile is recorded with its real outcome once Redis takes writes again, never
// failed for the refusal, and the run goes on without a restart of anything.
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import { afterEach, describe, expect, it, vi } from "vitest";
import { connectRedis, redisKeys } from "../../src/engine/index.js";
import { RunLedger } from "../../src/engine/redis/run-ledger.js";
import { startRedisServer, type RedisServerHandle } from "../../src/infra/redis-server.js";
import { untilRecorded } from "../../src/worker/record-outcome.js";
import { createTestApi, recordingLog, servo, startTestWorker } from "../support/context.js";
import { commands, readJournal } from "../support/journal.js";
import { doc } from "../support/pipelines.js";
import { startWorkerProcess, writeDevicesFile, type WorkerProcess } from "../support/worker-process.js";
import { rig } from "../resilience/scenario.js";

const workers: WorkerProcess[] = [];
const closers: (() => Promise<unknown>)[] = [];
let server: RedisServerHandle | undefined;
afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.stop();
  for (const close of closers.splice(0).reverse()) await close();
  await server?.stop();
  server = undefined;
});

/**
 * A worker process hosting one slow servo `s` (a 60-unit step takes 1.5 s), on a Redis of the
 * test's own, with the test's own connection to it for CONFIG SET and for looking at keys while
 * writes are refused.
 */
async function fullRig() {
  server = await startRedisServer();
  const { journal } = rig();
  const device = servo("s", { speed: 40, journal });
  const api = createTestApi([device], { redisUrl: server.url });
  closers.push(() => api.close());
  const admin: Redis = connectRedis(server.url, { blocking: false, name: "test-admin" });
  closers.push(() => admin.quit());
  const worker = await startWorkerProcess(
    api.prefix,
    writeDevicesFile([device]),
    { REDIS_URL: server.url },
    workers,
  );
  const journaled = () => commands(readJournal(journal));

  /** Refuses every write from the moment the first command is under way on the device. */
  async function refuseWritesOnceMoving() {
    await vi.waitFor(() => expect(journaled()[0]?.steps.length).toBeGreaterThan(0), {
      timeout: 10_000,
      interval: 10,
    });
    await admin.config("SET", "maxmemory", "1");
  }

  /**
   * Once the command has ended on the device, keeps refusing until the job's BullMQ lock (4 s) and
   * the device's record, written with its lease (4 s), have both expired, then takes writes again.
   */
  async function takeWritesAfterLocksLapse(runId: string) {
    await vi.waitFor(() => expect(journaled()[0]?.end).toBeDefined(), { timeout: 10_000, interval: 20 });
    await vi.waitFor(
      async () => {
        expect(await admin.keys(`${api.prefix}:device-s:*:lock`)).toEqual([]);
        expect(await admin.exists(redisKeys(api.prefix).device("s"))).toBe(0);
      },
      { timeout: 10_000, interval: 50 },
    );
    // Nothing could be recorded meanwhile.
    expect((await api.engine.getRun(runId)).nodes[0]?.status).toBe("running");
    await admin.config("SET", "maxmemory", "0");
  }

  /** What the worker logged about holding an outcome: once that it waits, once that it wrote it. */
  function expectWaitedOnce() {
    const lines = worker.log().split("\n");
    expect(lines.filter((line) => line.includes("holding the command's outcome"))).toHaveLength(1);
    expect(lines.filter((line) => line.includes("Redis takes writes again"))).toHaveLength(1);
    expect(worker.alive()).toBe(true);
  }

  return { api, journaled, refuseWritesOnceMoving, takeWritesAfterLocksLapse, expectWaitedOnce };
}

describe("a Redis that refuses writes while a command runs", () => {
  it("records the command's real outcome once Redis takes writes again, and the run goes on", async () => {
    const { api, journaled, ...fault } = await fullRig();
    // A step (relative, so not idempotent: never repeated by itself), then a status read.
    const { runId } = await api.engine.submitRun({
      document: doc(
        "full_step",
        [
          { id: "step", device_id: "s", function_id: "step", params: { delta: 60 } },
          { id: "after", device_id: "s", function_id: "status", params: {} },
        ],
        [{ source: "step", target: "after" }],
      ),
    });
    await fault.refuseWritesOnceMoving();
    await fault.takeWritesAfterLocksLapse(runId);
    expect(journaled()[0]?.end?.outcome).toBe("completed");

    const run = await api.engine.waitForRun(runId, 20_000);
    expect([run.status, run.error?.code ?? null]).toEqual(["completed", null]);
    const nodes = new Map(run.nodes.map((node) => [node.nodeId, node]));
    expect(nodes.get("step")).toMatchObject({
      status: "completed",
      outputs: { complete: true, position: 60 },
    });
    expect(nodes.get("after")).toMatchObject({ status: "completed", outputs: { position: 60 } });

    const events = await api.engine.runEvents(runId);
    const ofStep = events.filter(
      (event) => "node_id" in event && event.node_id === "step" && event.type !== "node_progress",
    );
    expect(ofStep.map((event) => event.type)).toEqual(["node_executing", "node_completed"]);
    expect(events.filter((event) => event.type === "node_failed")).toEqual([]);
    expect(JSON.stringify(events)).not.toContain("NODE_INTERRUPTED");

    // Its BullMQ lock lapsed during the refusal, so the stall check handed the job out again; the
    // job found the node recorded, and skipped it.
    const stepJob = await api.engine.queues.device("s").getJob(`${runId}__0__step`);
    expect([stepJob?.stalledCounter, stepJob?.returnvalue]).toEqual([1, { skipped: true }]);

    // The device's own account: the step ran once, and completed; the status read once after it.
    expect(journaled().map((command) => [command.function, command.end?.outcome])).toEqual([
      ["step", "completed"],
      ["status", "completed"],
    ]);
    fault.expectWaitedOnce();
  }, 60_000);

  it("records a command's real failure, not NODE_INTERRUPTED", async () => {
    const { api, journaled, ...fault } = await fullRig();
    // Stopped by its timeout during the refusal: a real failure, the node's last attempt.
    const { runId } = await api.engine.submitRun({
      document: doc("full_timeout", [
        {
          id: "step",
          device_id: "s",
          function_id: "step",
          params: { delta: 60 },
          timeout_ms: 800,
          retry: { attempts: 1, backoff_ms: 0 },
        },
      ]),
    });
    await fault.refuseWritesOnceMoving();
    await fault.takeWritesAfterLocksLapse(runId);
    expect(journaled()[0]?.end?.outcome).toBe("failed");

    const run = await api.engine.waitForRun(runId, 20_000);
    expect([run.status, run.error?.code]).toEqual(["failed", "NODE_TIMEOUT"]);
    expect(run.nodes[0]).toMatchObject({ status: "failed", error: { code: "NODE_TIMEOUT" } });
    const failures = (await api.engine.runEvents(runId)).filter((event) => event.type === "node_failed");
    expect(failures.map((event) => event.error_type)).toEqual(["NODE_TIMEOUT"]);
    expect(journaled()).toHaveLength(1);
    fault.expectWaitedOnce();
  }, 60_000);
});

// While a worker held a result, its lease on the device may have passed to another worker (its
// link was down for longer than the lease). The result is still its node's, as long as nobody has
// begun that node since: the node is running from this very attempt.
describe("a result written after its worker's lease passed on", () => {
  it("is recorded while the node runs from its attempt, and refused once another attempt began", async () => {
    const api = createTestApi([servo("servo-1")]);
    closers.push(() => api.close());
    // Orchestrates the run, but hosts no device: the ledger is driven by hand below.
    const orchestrator = await startTestWorker(api.prefix, []);
    closers.push(() => orchestrator.close());
    const keys = redisKeys(api.prefix);
    const ledger = new RunLedger(api.redis, keys);
    const { runId } = await api.engine.submitRun({
      document: doc("lapsed", [
        { id: "step", device_id: "servo-1", function_id: "step", params: { delta: 10 } },
        { id: "move", device_id: "servo-1", function_id: "move", params: { position: 20 } },
      ]),
    });
    await vi.waitFor(
      async () =>
        expect((await api.engine.getRun(runId)).nodes.map((node) => node.status)).toEqual([
          "queued",
          "queued",
        ]),
      { timeout: 5000, interval: 20 },
    );
    const leaseTo = (holder: string, fence: string) =>
      api.redis.hset(keys.deviceLease("servo-1"), "holder", holder, "fence", fence);
    const ref = (nodeId: string, fence: string) => ({
      runId,
      pipelineId: "lapsed",
      nodeId,
      epoch: 0,
      deviceId: "servo-1",
      fence,
    });
    const begin = async (nodeId: string, fence: string, idempotent: boolean) => {
      const skip = { code: "CANCELLED", message: "skip" };
      const body = {
        type: "node_executing",
        node_id: nodeId,
        node_type: "device",
        function_id: "f",
        device_id: "servo-1",
        attempt: 1,
      } as const;
      const started = await ledger.beginNode(
        { ...ref(nodeId, fence), jobId: nodeId, idempotent },
        1,
        body,
        { cancelled: skip, failed: skip, timeout: skip },
        [],
        null,
      );
      if (started.kind !== "run") throw new Error(`node '${nodeId}' did not begin: ${started.kind}`);
      return started.startedAt;
    };
    const held = (startedAt: string) => ({
      startedAt,
      finishedAt: new Date().toISOString(),
      id: randomUUID(),
    });

    await leaseTo("w1", "1");
    const stepBegan = await begin("step", "1", false);
    const moveBegan = await begin("move", "1", true);
    await leaseTo("w2", "2");

    // Nobody has begun `step` since w1 did: w1's result of it is recorded, though w1 is fenced out.
    expect(await ledger.completeNode(ref("step", "1"), { position: 10 }, 0.5, [])).toBe("fenced");
    expect(await ledger.completeNode(ref("step", "1"), { position: 10 }, 0.5, [], held(stepBegan))).toEqual({
      released: [],
      woken: [],
      next: 0,
    });

    // w2 has begun `move` again (it is idempotent): w1's late result does not overwrite that attempt.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(new Date(Date.now() + 1000));
      await begin("move", "2", true);
    } finally {
      vi.useRealTimers();
    }
    expect(await ledger.completeNode(ref("move", "1"), { position: 20 }, 0.5, [], held(moveBegan))).toBe(
      "fenced",
    );

    const nodes = new Map((await api.engine.getRun(runId)).nodes.map((node) => [node.nodeId, node]));
    expect(nodes.get("step")).toMatchObject({ status: "completed", outputs: { position: 10 } });
    expect(nodes.get("move")?.status).toBe("running");
    await api.engine.cancelRun(runId);
  });
});

describe("a worker stopping while Redis refuses the outcome's write", () => {
  it("logs the outcome it could not record, in full, as an error", async () => {
    const { log, lines } = recordingLog();
    const stopping = new AbortController();
    const full = new Error("OOM command not allowed when used memory > 'maxmemory'.");
    let tries = 0;
    const outcome = { jobId: "j", nodeId: "n", outputs: { position: 60 } };
    const recording = untilRecorded(
      () => {
        tries += 1;
        if (tries === 3) stopping.abort();
        return Promise.reject(full);
      },
      { log, stopping: stopping.signal, outcome },
    );
    await expect(recording).rejects.toThrow(/not recorded/);
    expect(tries).toBe(3);
    expect(lines().map((line) => [line.level, line.outputs])).toEqual([
      [40, { position: 60 }],
      [50, { position: 60 }],
    ]);
    expect(lines()[1]?.msg).toMatch(/not recorded/);
  });
});
