import { describe, expect, it } from "vitest";
import { servo, withRig } from "../support/context.js";
import { doc, move } from "../support/pipelines.js";

// speed 50: a move of 150 takes 3 s.
const devices = [servo("servo-1", { speed: 50 })];

describe("a node's timeout_ms", () => {
  it("stops each attempt past it (the driver is told to stop), retries, then fails NODE_TIMEOUT", async () => {
    await withRig(devices, async (api) => {
      const node = {
        ...move("slow", "servo-1", 150),
        timeout_ms: 150,
        retry: { attempts: 2, backoff_ms: 10 },
      };
      const startedAt = Date.now();
      const { runId } = await api.engine.submitRun({ document: doc("timeouts", [node]) });
      const run = await api.engine.waitForRun(runId, 5000);

      expect(Date.now() - startedAt).toBeLessThan(2000); // two short attempts, not a 3 s move
      expect(run.status).toBe("failed");
      expect(run.nodes[0]).toMatchObject({ status: "failed", attempts: 2, error: { code: "NODE_TIMEOUT" } });
      expect(run.nodes[0]?.error?.message).toBe("servo-1: timed out after 150 ms");
      const events = await api.engine.runEvents(runId);
      const retrying = events.filter((event) => event.type === "node_retrying");
      expect(retrying).toEqual([
        expect.objectContaining({
          attempt: 2,
          error_message: "servo-1: timed out after 150 ms",
          delay_ms: 10,
        }),
      ]);

      // The servo stopped where it was: a status right after shows it short of 150.
      const status = await api.engine.submitRun({
        document: doc("where", [{ id: "s", device_id: "servo-1", function_id: "status", params: {} }]),
      });
      const where = await api.engine.waitForRun(status.runId, 5000);
      expect(where.nodes[0]?.outputs?.position).toBeLessThan(150);
    });
  });
});
