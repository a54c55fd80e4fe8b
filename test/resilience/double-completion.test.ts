import { UnrecoverableError, Worker } from "bullmq";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  connectRedis,
  createWorkerRuntime,
  deviceQueueName,
  type NodeAttempt,
  type NodeJobData,
  type RunState,
} from "../../src/engine/index.js";
import { createTestApi, quietLog, redisUrl, servo, startTestWorker } from "../support/context.js";
import { doc, move } from "../support/pipelines.js";

const closers: (() => Promise<unknown>)[] = [];
const nodeStatus = (run: RunState, nodeId: string) =>
  run.nodes.find((node) => node.nodeId === nodeId)?.status;
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

// servo-a is driven by hand, through the worker's own node lifecycle; servo-b fails every move;
// servo-s is slow, so that the run stays open while the rest happens.
const catalog = [
  servo("servo-a"),
  servo("servo-b", { fail_first: { move: 5 } }),
  servo("servo-s", { speed: 100 }),
];

describe("a node that completes twice in one epoch", () => {
  // After a lost lock or a device hand-over, an idempotent node can run and complete twice. If its
  // successor's job failed in between, enqueueing that successor again re-links the failed job to
  // the run job (BullMQ's updateExistingJobsParent), which would then wait for it for ever.
  it("enqueues nothing the second time, and its run ends", async () => {
    const api = createTestApi(catalog);
    closers.push(() => api.close());
    const worker = await startTestWorker(api.prefix, catalog.slice(1));
    closers.push(() => worker.close());
    const connection = connectRedis(redisUrl(), { blocking: true, name: "test-hand-worker" });
    closers.push(() => connection.quit());
    const runtime = createWorkerRuntime(connection, api.prefix, quietLog);
    closers.push(() => runtime.close());
    let first: NodeAttempt | undefined;
    const outputs = { complete: true, position: 10 };
    const hand = new Worker<NodeJobData>(
      deviceQueueName("servo-a"),
      async (job, token) => {
        first = { job, token, fence: "" };
        expect((await runtime.lifecycle.begin(first)).kind).toBe("run");
        await runtime.lifecycle.complete(first, outputs, 0.01);
        return outputs;
      },
      { connection, prefix: api.prefix },
    );
    closers.push(() => hand.close());

    const document = doc(
      "twice",
      [
        move("a", "servo-a", 10),
        { ...move("b", "servo-b", 20), retry: { attempts: 1, backoff_ms: 0 } },
        move("s", "servo-s", 150),
      ],
      [{ source: "a", target: "b" }],
    );
    const { runId } = await api.engine.submitRun({ document });
    await vi.waitFor(async () => expect(nodeStatus(await api.engine.getRun(runId), "b")).toBe("failed"), {
      timeout: 5000,
      interval: 10,
    });
    expect(nodeStatus(await api.engine.getRun(runId), "s")).toBe("running");

    // The second completion of a, as after a lost lock: the same node, the same epoch.
    await runtime.lifecycle.complete(first as NodeAttempt, outputs, 0.01);

    const run = await api.engine.waitForRun(runId, 5000);
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ nodeId: "b" });
    const completions = (await api.engine.runEvents(runId)).filter(
      (event) => event.type === "node_completed" && event.node_id === "a",
    );
    expect(completions).toHaveLength(1);
  });
});

describe("the sweeper", () => {
  it("lets go of an ended child a run job still waits for, and the run ends", async () => {
    const api = createTestApi(catalog);
    closers.push(() => api.close());
    const worker = await startTestWorker(api.prefix, catalog.slice(2));
    closers.push(() => worker.close());
    const { runId } = await api.engine.submitRun({ document: doc("stuck", [move("s", "servo-s", 150)]) });
    await vi.waitFor(async () => expect((await api.engine.getRun(runId)).nodes[0]?.status).toBe("running"), {
      timeout: 5000,
      interval: 10,
    });

    // A failed child of the run job, then added again with the same id and parent: BullMQ puts
    // the failed job back among the run job's pending dependencies.
    const queue = api.engine.queues.get("device-servo-a");
    const parent = { id: runId, queue: api.engine.queues.runs().qualifiedName };
    const opts = { jobId: "zombie", parent, ignoreDependencyOnFailure: true };
    const connection = connectRedis(redisUrl(), { blocking: true, name: "test-failing-worker" });
    closers.push(() => connection.quit());
    const failing = new Worker(
      "device-servo-a",
      () => {
        throw new UnrecoverableError("gone");
      },
      { connection, prefix: api.prefix },
    );
    closers.push(() => failing.close());
    await queue.add("zombie", {}, opts);
    await vi.waitFor(async () => expect(await queue.getJobState("zombie")).toBe("failed"), { timeout: 5000 });
    await failing.close();
    await queue.add("zombie", {}, opts);
    const runJob = await api.engine.queues.runs().getJob(runId);
    expect((await runJob?.getDependencies())?.unprocessed).toHaveLength(2);

    // s completes; the run job still waits, for the failed job.
    await vi.waitFor(
      async () => expect((await api.engine.getRun(runId)).nodes[0]?.status).toBe("completed"),
      {
        timeout: 5000,
        interval: 20,
      },
    );
    await vi.waitFor(async () => expect((await runJob?.getDependencies())?.unprocessed).toHaveLength(1), {
      timeout: 2000,
      interval: 20,
    });
    expect(await runJob?.getState()).toBe("waiting-children");
    expect((await api.engine.getRun(runId)).status).toBe("running");

    const runtime = createWorkerRuntime(api.redis, api.prefix, quietLog);
    closers.push(() => runtime.close());
    expect(await runtime.sweep()).toBe(1);
    expect((await api.engine.waitForRun(runId, 5000)).status).toBe("completed");
  });
});
