import { UnrecoverableError, Worker, type Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectRedis, deviceQueueName, redisKeys, type NodeJobData } from "../../src/engine/index.js";
import { RunLedger } from "../../src/engine/redis/run-ledger.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { createTestApi, redisUrl, servo, startTestWorker } from "../support/context.js";
import { doc, move } from "../support/pipelines.js";
import { beginByHand, nodeRef } from "../support/ledger-by-hand.js";
import { expectRanInOrder, runToEnd } from "../support/runs.js";

// servo-1's worker "crashes" between recording a node's completion in the ledger and enqueueing its
// successors: its job completes, but the successors' jobs are never added. The run job, woken when
// its children are done, must find the released nodes and enqueue them.
const devices = [servo("servo-1"), servo("servo-2")];
let api: ReturnType<typeof createTestApi>;
let healthy: WorkerHandle;
let crashing: Worker<NodeJobData>;
const connection = connectRedis(redisUrl(), { blocking: true, name: "test-crashing-worker" });

beforeAll(async () => {
  api = createTestApi(devices);
  healthy = await startTestWorker(api.prefix, [devices[1] ?? servo("servo-2")]);
  const ledger = new RunLedger(connection, redisKeys(api.prefix));
  crashing = new Worker<NodeJobData>(
    deviceQueueName("servo-1"),
    async (job) => {
      const ref = await beginByHand(ledger, jobRef(job), job.data.functionId, job.id ?? "");
      const outputs = { complete: true, position: job.data.params.position };
      await ledger.completeNode(ref, outputs, 0.001, job.data.successors);
      return outputs; // ...and the successors' jobs are never added
    },
    { connection: connection, prefix: api.prefix },
  );
});
afterAll(async () => {
  await crashing.close();
  await healthy.close();
  await api.close();
  await connection.quit();
});

describe("the reconciler", () => {
  it("releases successors lost between a node's completion and their enqueue", async () => {
    const edges = [
      { source: "a", target: "b" },
      { source: "a", target: "c" },
      { source: "b", target: "d" },
      { source: "c", target: "d" },
    ];
    const document = doc(
      "lost",
      [move("a", "servo-1", 1), move("b", "servo-2", 2), move("c", "servo-1", 3), move("d", "servo-2", 4)],
      edges,
    );
    const { runId } = await api.engine.submitRun({ document });
    const run = await api.engine.waitForRun(runId, 20_000);
    await expectRanInOrder(api.engine, run, edges);
  });
});

describe("the sweeper", () => {
  it("revives a resumed run whose run job was never retried (a crash between the two)", async () => {
    const devices = [servo("flaky-2", { fail_first: { move: 1 } })];
    const local = createTestApi(devices);
    const first = await startTestWorker(local.prefix, devices);
    let second: WorkerHandle | undefined;
    try {
      const failed = await runToEnd(local.engine, doc("gap", [move("only", "flaky-2", 10)]));
      expect(failed.status).toBe("failed");
      // What POST /retry does, minus its last step (the run job's retry), as if the API died there.
      const ledger = new RunLedger(connection, redisKeys(local.prefix));
      expect(await ledger.resumeRun(failed.runId, "gap", ["only"])).toMatchObject({
        before: "failed",
        after: "running",
        resumed: true,
      });
      expect((await local.engine.getRun(failed.runId)).status).toBe("running");
      second = await startTestWorker(local.prefix, []); // sweeps on start
      const run = await local.engine.waitForRun(failed.runId, 10_000);
      expect(run.status).toBe("completed");
    } finally {
      await second?.close();
      await first.close();
      await local.close();
    }
  });
});

describe("a node job that ends without a result", () => {
  it("fails the node NODE_INTERRUPTED, ends the run failed, and a resume completes it", async () => {
    const devices = [servo("servo-9")];
    const local = createTestApi(devices);
    const ledger = new RunLedger(connection, redisKeys(local.prefix));
    // A worker that starts the node and then loses it: its job fails without a word to the ledger,
    // as when BullMQ fails a job whose worker stalled out. Re-adding that job's id would tie the run
    // job to the failed job for ever (BullMQ re-links a duplicate into its parent's dependencies).
    const dying = new Worker<NodeJobData>(
      deviceQueueName("servo-9"),
      async (job) => {
        const ref = await beginByHand(ledger, jobRef(job), job.data.functionId, job.id ?? "");
        // The ledger hears of a retry to come (the node is queued again)... and the job fails for good.
        await ledger.retryNode(ref, { code: "DEVICE_ERROR", message: "first try" }, 2, 0);
        throw new UnrecoverableError("lost");
      },
      { connection: connection, prefix: local.prefix },
    );
    const orchestrator = await startTestWorker(local.prefix, []);
    let healthy: WorkerHandle | undefined;
    try {
      const failed = await runToEnd(local.engine, doc("lost_job", [move("only", "servo-9", 10)]));
      expect(failed.status).toBe("failed");
      expect(failed.error).toMatchObject({ code: "NODE_INTERRUPTED", nodeId: "only" });
      await dying.close();
      healthy = await startTestWorker(local.prefix, devices);
      expect((await local.post(`/api/runs/${failed.runId}/retry`, {})).status).toBe(202);
      expect((await local.engine.waitForRun(failed.runId, 10_000)).status).toBe("completed");
    } finally {
      await dying.close();
      await healthy?.close();
      await orchestrator.close();
      await local.close();
    }
  });
});

const jobRef = ({ data }: Job<NodeJobData>) =>
  nodeRef(data.runId, data.pipelineId, data.nodeId, data.deviceId, data.epoch);
