import { Worker, type Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  connectRedis,
  deviceQueueName,
  redisKeys,
  type NodeJobData,
  type RunState,
} from "../../src/engine/index.js";
import {
  RunLedger,
  successorBatch,
  type BeginResult,
  type Completion,
  type ReleaseStep,
} from "../../src/engine/redis/run-ledger.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { createTestApi, recordingLog, redisUrl, servo, startTestWorker } from "../support/context.js";
import { beginByHand, nodeRef } from "../support/ledger-by-hand.js";
import { statusFan } from "../support/pipelines.js";

// A node with more successors than one batch releases them over several short script calls
// (node-complete.lua, then node-release.lua). Here the worker of the fan's root "dies" part-way:
// it records the completion (the first batch released), releases the second batch (asked twice,
// as ioredis resends a command whose reply a dropped connection lost), and neither adds a job nor
// goes on. The run job must add the released nodes' jobs and carry the release on to the end, and
// every node must run exactly once.
const width = successorBatch * 2 + 200;
const devices = [servo("servo-1"), servo("servo-2"), servo("servo-3")];
const connection = connectRedis(redisUrl(), { blocking: true, name: "test-dying-worker" });
const healthyLog = recordingLog();
let api: ReturnType<typeof createTestApi>;
let healthy: WorkerHandle;
let dying: Worker<NodeJobData>;
let seen: {
  completion: Completion | null;
  second: ReleaseStep | null;
  again: ReleaseStep | null;
  begunAgain: BeginResult;
};

beforeAll(async () => {
  api = createTestApi(devices);
  healthy = await startTestWorker(api.prefix, devices.slice(1), { log: healthyLog.log });
  const ledger = new RunLedger(connection, redisKeys(api.prefix));
  dying = new Worker<NodeJobData>(
    deviceQueueName("servo-1"),
    async (job: Job<NodeJobData>) => {
      const { data } = job;
      const ref = nodeRef(data.runId, data.pipelineId, data.nodeId, data.deviceId, data.epoch);
      await beginByHand(ledger, ref, data.functionId, job.id ?? "");
      const completion = await ledger.completeNode(ref, { ok: true }, 0.001, data.successors);
      const from = completion && completion !== "fenced" ? completion.next : 0;
      const second = await ledger.releaseMore(ref, data.successors, from);
      const again = await ledger.releaseMore(ref, data.successors, from);
      // What its job would find, had it come back after the crash.
      const skip = { code: "CANCELLED", message: "skip" };
      const begunAgain = await ledger.beginNode(
        { ...ref, jobId: job.id ?? "", idempotent: true },
        2,
        {
          type: "node_executing",
          node_id: data.nodeId,
          node_type: "device",
          function_id: "status",
          device_id: "servo-1",
          attempt: 2,
        },
        { cancelled: skip, failed: skip, timeout: skip },
        [],
        null,
      );
      seen = { completion: completion === "fenced" ? null : completion, second, again, begunAgain };
      return {}; // ...and it dies: no job added, the release not carried on
    },
    { connection, prefix: api.prefix },
  );
});
afterAll(async () => {
  await dying.close();
  await healthy.close();
  await api.close();
  await connection.quit();
});

describe("a release of successors in batches", () => {
  it("is carried on by the run job when the worker dies part-way, and each node runs once", async () => {
    const document = statusFan("release-part-way", width, ["servo-2", "servo-3"]);
    const root = document.nodes[0];
    if (root) root.device_id = "servo-1";
    const { runId } = await api.engine.submitRun({ document });
    const run: RunState = await api.engine.waitForRun(runId, 60_000);
    expect(run.status).toBe("completed");

    // The dying worker's view: two batches released, the second answered alike when asked again.
    expect(seen.completion?.released).toHaveLength(successorBatch);
    expect(seen.completion?.next).toBe(successorBatch + 1);
    expect(seen.second?.next).toBe(successorBatch * 2 + 1);
    expect(seen.second?.released).toHaveLength(successorBatch);
    expect(seen.again).toEqual(seen.second);
    expect(seen.begunAgain).toEqual({ kind: "done", releaseNext: successorBatch * 2 + 1 });

    // The run job took over: it released the last 200, and added the jobs of all 1,200.
    const warnings = healthyLog.lines().filter((line) => line.nodeId === "src" && line.from !== undefined);
    expect(warnings).toEqual([expect.objectContaining({ from: successorBatch * 2 + 1 })]);
    expect(run.nodes).toHaveLength(width + 2);
    for (const node of run.nodes) {
      expect(node.status, node.nodeId).toBe("completed");
      expect(node.attempts, node.nodeId).toBe(1);
    }
    const stored = await api.engine.runs.loadRun(runId);
    expect(await api.engine.runs.nodeCounts(runId, stored!.plan)).toMatchObject({
      completed: width + 2,
      pending: 0,
      queued: 0,
    });
    const nodesKey = redisKeys(api.prefix).runNodes(runId);
    expect(await connection.hexists(nodesKey, "src:release_next")).toBe(0);
  });
});
