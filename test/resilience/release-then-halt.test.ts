import { afterEach, describe, expect, it } from "vitest";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { createTestApi, redisUrl, servo, startTestWorker } from "../support/context.js";
import { doc, move } from "../support/pipelines.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";

const closers: (() => Promise<unknown>)[] = [];
let proxy: TcpProxy | undefined;
afterEach(async () => {
  proxy?.delay(0);
  for (const close of closers.splice(0).reverse()) await close();
  await proxy?.close();
  proxy = undefined;
});

const catalog = [servo("near"), servo("offline")]; // "offline": in the devices file, hosted by no worker

// A node's completion releases its successor in the ledger; the worker adds the successor's job
// once the ledger has answered. A cancel that comes in between halts the run and looks for the
// run's queued jobs before that job exists. The worker's link is slowed (300 ms each way) so that
// the cancel lands in that window every time. The successor's device is offline: a job left in its
// queue would hold the run open for ever.
describe("a cancel between a successor's release and its job's add", () => {
  it("still ends the successor and the run, and leaves no job in the offline device's queue", async () => {
    const api = createTestApi(catalog);
    closers.push(() => api.close());
    proxy = await startTcpProxy(Number(new URL(redisUrl()).port));
    // The device's worker behind the slowed link; the runs' orchestration on a direct one.
    const worker: WorkerHandle = await startTestWorker(api.prefix, catalog.slice(0, 1), {
      redisUrl: proxy.url,
      runConcurrency: 0,
    });
    closers.push(() => worker.close());
    const orchestrator = await startTestWorker(api.prefix, []);
    closers.push(() => orchestrator.close());
    proxy.delay(300);

    const { runId } = await api.engine.submitRun({
      document: doc(
        "release_then_halt",
        [move("first", "near", 10), move("second", "offline", 10)],
        [{ source: "first", target: "second" }],
      ),
    });
    // The ledger has released "second"; the worker hears so 300 ms later, and adds its job after.
    await expect
      .poll(async () => (await api.engine.getRun(runId)).nodes.map((node) => node.status), {
        timeout: 15_000,
        interval: 5,
      })
      .toEqual(["completed", "queued"]);
    expect(await api.engine.queues.device("offline").getJob(`${runId}__1__second`)).toBeUndefined();
    expect(await api.engine.cancelRun(runId)).toBe("running");

    const run = await api.engine.waitForRun(runId, 10_000);
    expect(run.status).toBe("cancelled");
    expect(run.nodes.map((node) => [node.nodeId, node.status, node.error?.code ?? null])).toEqual([
      ["first", "completed", null],
      ["second", "cancelled", "CANCELLED"],
    ]);
    expect(
      await api.engine.queues.device("offline").getJobCounts("waiting", "delayed", "prioritized"),
    ).toEqual({
      waiting: 0,
      delayed: 0,
      prioritized: 0,
    });
  }, 40_000);
});
