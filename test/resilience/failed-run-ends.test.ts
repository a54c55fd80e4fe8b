import { describe, expect, it } from "vitest";
import { createTestApi, servo, startTestWorker } from "../support/context.js";
import { doc, move } from "../support/pipelines.js";

// A run whose node fails for good must end as soon as its running commands have: its nodes that
// have not begun (queued on a device that is offline, or behind another run's command) are ended in
// the ledger and their jobs leave their queues, whatever their devices' state. A cancel of such a
// run is refused: it keeps its failure.
const catalog = [
  servo("bad", { fail_first: { move: 5 } }),
  servo("slow", { speed: 100 }),
  servo("offline"), // in the devices file, hosted by no worker
  servo("steady", { speed: 100 }),
];
const hosted = catalog.filter((device) => device.id !== "offline");
const once = { retry: { attempts: 1, backoff_ms: 0 } };

describe("a run whose node fails", () => {
  it("ends its nodes on an offline device at once, refuses a cancel, and ends failed when its running command ends", async () => {
    const api = createTestApi(catalog);
    const worker = await startTestWorker(api.prefix, hosted);
    try {
      // "broken" begins half a second after "long" may, so that "long" is surely running when it
      // fails, however late a loaded machine starts it (both at once, the failure came first once).
      const document = doc(
        "fails",
        [
          { ...move("broken", "bad", 10), ...once },
          move("long", "slow", 150), // 1.5 s: still running when "broken" fails
          move("stranded", "offline", 10),
          move("first", "steady", 50), // 0.5 s
        ],
        [{ source: "first", target: "broken" }],
      );
      const { runId } = await api.engine.submitRun({ document });
      await expect
        .poll(async () => (await api.engine.getRun(runId)).nodes.map((node) => node.status), {
          timeout: 5000,
          interval: 10,
        })
        .toEqual(["running", "cancelled", "completed", "failed"]); // plan order: the roots first
      const stranded = (await api.engine.getRun(runId)).nodes.find((node) => node.nodeId === "stranded");
      expect(stranded?.error).toMatchObject({ code: "SKIPPED_AFTER_FAILURE" });
      expect(await api.engine.queues.device("offline").getJobCounts("waiting", "delayed")).toEqual({
        waiting: 0,
        delayed: 0,
      });

      const cancel = await api.post(`/api/runs/${runId}/cancel`, {});
      expect(cancel.status).toBe(409);
      expect(await cancel.json()).toMatchObject({
        error: { code: "RUN_ALREADY_ENDED", details: { status: "failed" } },
      });

      const run = await api.engine.waitForRun(runId, 5000);
      expect(run.status).toBe("failed");
      expect(run.error).toMatchObject({ code: "DEVICE_ERROR", nodeId: "broken" });
      expect(run.nodes.map((node) => node.status)).toEqual(["completed", "cancelled", "completed", "failed"]);
      const events = await api.engine.runEvents(runId);
      expect(events.filter((event) => event.type === "pipeline_cancelled")).toEqual([]);
      expect(events.at(-1)?.type).toBe("pipeline_error");
    } finally {
      await worker.close();
      await api.close();
    }
  });

  it("ends at once when the only other branch waits behind another run's command", async () => {
    const api = createTestApi(catalog);
    const worker = await startTestWorker(api.prefix, hosted);
    try {
      const blocker = await api.engine.submitRun({ document: doc("blocker", [move("hold", "slow", 150)]) });
      await expect
        .poll(async () => (await api.engine.getRun(blocker.runId)).nodes[0]?.status, {
          timeout: 5000,
          interval: 10,
        })
        .toBe("running");
      const { runId } = await api.engine.submitRun({
        document: doc("fails_behind", [
          { ...move("broken", "bad", 10), ...once },
          move("behind", "slow", 20),
        ]),
      });
      const run = await api.engine.waitForRun(runId, 5000);
      expect(run.status).toBe("failed");
      expect(run.nodes.map((node) => node.status)).toEqual(["failed", "cancelled"]);
      // It did not wait for the device: the other run's command is still under way.
      expect((await api.engine.getRun(blocker.runId)).nodes[0]?.status).toBe("running");
      expect(await api.engine.queues.device("slow").getWaitingCount()).toBe(0);
      expect((await api.engine.waitForRun(blocker.runId, 5000)).status).toBe("completed");
    } finally {
      await worker.close();
      await api.close();
    }
  });

  it("a run that times out with a node on an offline device ends at once, failed RUN_TIMEOUT", async () => {
    const api = createTestApi(catalog);
    const worker = await startTestWorker(api.prefix, hosted);
    try {
      const { runId } = await api.engine.submitRun({
        document: { ...doc("times_out", [move("stranded", "offline", 10)]), timeout_ms: 300 },
      });
      const run = await api.engine.waitForRun(runId, 5000);
      expect(run.status).toBe("failed");
      expect(run.error).toMatchObject({ code: "RUN_TIMEOUT" });
      expect(run.nodes[0]).toMatchObject({ status: "cancelled", error: { code: "RUN_TIMEOUT" } });
      const cancel = await api.post(`/api/runs/${runId}/cancel`, {});
      expect(cancel.status).toBe(409);
    } finally {
      await worker.close();
      await api.close();
    }
  });
});
