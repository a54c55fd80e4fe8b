import { afterEach, describe, expect, it, vi } from "vitest";
import { createWorkerRuntime, type NodeJobData, type WorkerRuntime } from "../../src/engine/index.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { createTestApi, quietLog, servo, startTestWorker } from "../support/context.js";
import { doc } from "../support/pipelines.js";

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

// ioredis sends a command again when its connection drops before the reply came
// (autoResendUnfulfilledCommands, which BullMQ relies on). So when Redis goes away right after
// running a worker's node-begin, it runs that node-begin a second time, with the same arguments,
// once it is back (seen in redis-restart.test.ts: two node_executing events with one timestamp).
// The second must answer as the first did: the node runs, once. Only a begin that really comes
// again later (the job re-delivered after its worker died) is a second attempt at the device.
describe("a node-begin sent again after its reply was lost", () => {
  it.each([
    { fn: "move", params: { position: 40 }, redelivered: "run" },
    { fn: "step", params: { delta: 40 }, redelivered: "interrupted" },
  ])("answers as the first time for a $fn node, without a second node_executing", async (c) => {
    const api = createTestApi([servo("servo-1")]);
    closers.push(() => api.close());
    // Orchestrates the run, but hosts no device: the node's job waits in its queue for us.
    const orchestrator: WorkerHandle = await startTestWorker(api.prefix, []);
    closers.push(() => orchestrator.close());
    const runtime: WorkerRuntime = createWorkerRuntime(api.redis, api.prefix, quietLog);
    closers.push(() => runtime.close());

    const pipeline = doc("resent", [{ id: "n", device_id: "servo-1", function_id: c.fn, params: c.params }]);
    const { runId } = await api.engine.submitRun({ document: pipeline });
    const job = await vi.waitFor(
      async () => {
        const found = await runtime.queues.device("servo-1").getJob(`${runId}__0__n`);
        expect(found).toBeDefined();
        return found as NonNullable<typeof found> & { data: NodeJobData };
      },
      { timeout: 5000, interval: 20 },
    );
    const executing = async () =>
      (await api.engine.runEvents(runId)).filter((event) => event.type === "node_executing").length;

    // The same command twice: frozen clock, so the arguments are the same to the byte.
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(new Date());
      const first = await runtime.lifecycle.begin({ job, token: undefined, fence: "" });
      const again = await runtime.lifecycle.begin({ job, token: undefined, fence: "" });
      expect(first).toEqual({
        kind: "run",
        inputs: c.params,
        attempt: 1,
        startedAt: new Date().toISOString(),
      });
      expect(again).toEqual(first);
      expect(await executing()).toBe(1);

      // A begin that comes a second later is the job re-delivered: the crash rules apply as before.
      vi.setSystemTime(new Date(Date.now() + 1000));
      expect((await runtime.lifecycle.begin({ job, token: undefined, fence: "" })).kind).toBe(c.redelivered);
    } finally {
      vi.useRealTimers();
    }
  });
});
