import { describe, expect, it } from "vitest";
import { servo, withRig } from "../support/context.js";
import { doc, move } from "../support/pipelines.js";

// speed 50: a move of 150 takes 3 s.
const devices = [servo("servo-1", { speed: 50 })];

describe("cancel of a run whose node waits behind another run's command", () => {
  it("ends the run cancelled at once, without waiting for the device, and leaves the other run alone", async () => {
    await withRig(devices, async (api) => {
      const long = await api.engine.submitRun({ document: doc("long", [move("a", "servo-1", 150)]) });
      await expect
        .poll(async () => (await api.engine.getRun(long.runId)).nodes[0]?.status, {
          timeout: 5000,
          interval: 10,
        })
        .toBe("running");
      const behind = await api.engine.submitRun({
        document: doc(
          "behind",
          [move("x", "servo-1", 10), move("y", "servo-1", 20)],
          [{ source: "x", target: "y" }],
        ),
      });
      await expect
        .poll(async () => (await api.engine.getRun(behind.runId)).nodes[0]?.status, {
          timeout: 5000,
          interval: 10,
        })
        .toBe("queued");

      await api.engine.cancelRun(behind.runId);
      const cancelled = await api.engine.waitForRun(behind.runId, 2000);
      expect(cancelled.status).toBe("cancelled");
      expect(cancelled.nodes.map((node) => [node.nodeId, node.status])).toEqual([
        ["x", "cancelled"],
        ["y", "pending"],
      ]);
      expect(cancelled.nodes[0]?.error).toMatchObject({ code: "CANCELLED" });
      // The long move is still going: the cancel did not wait for it.
      expect((await api.engine.getRun(long.runId)).nodes[0]?.status).toBe("running");
      expect(await api.engine.queues.device("servo-1").getWaitingCount()).toBe(0);

      const finished = await api.engine.waitForRun(long.runId, 10_000);
      expect(finished.status).toBe("completed");
      const events = await api.engine.runEvents(behind.runId);
      expect(events.filter((event) => event.type === "node_executing")).toEqual([]);
      expect(events.at(-1)?.type).toBe("pipeline_cancelled");
    });
  });
});
