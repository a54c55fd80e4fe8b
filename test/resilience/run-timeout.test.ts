import { describe, expect, it } from "vitest";
import { servo, withRig } from "../support/context.js";
import { doc, move } from "../support/pipelines.js";

// speed 50: a move of 150 takes 3 s.
const devices = [servo("servo-1", { speed: 50 }), servo("servo-2", { speed: 50 })];

describe("a run's timeout_ms", () => {
  it("stops the running command, starts nothing more, and fails the run RUN_TIMEOUT; a resume gets its full time again", async () => {
    await withRig(devices, async (api) => {
      const pipeline = {
        ...doc(
          "slow",
          [move("a", "servo-1", 150), move("b", "servo-2", 10), move("c", "servo-1", 10)],
          [
            { source: "a", target: "c" },
            { source: "b", target: "c" },
          ],
        ),
        timeout_ms: 600,
      };
      const submittedAt = Date.now();
      const { runId } = await api.engine.submitRun({ document: pipeline });
      const run = await api.engine.waitForRun(runId, 3000);

      expect(Date.now() - submittedAt).toBeLessThan(2500); // not the 3 s the move would take
      expect(run.status).toBe("failed");
      expect(run.error).toMatchObject({ code: "RUN_TIMEOUT", nodeId: null });
      expect(run.error?.message).toMatch(/timeout_ms \(600 ms\)/);
      const byId = Object.fromEntries(run.nodes.map((node) => [node.nodeId, node]));
      expect(byId.a).toMatchObject({ status: "failed", error: { code: "RUN_TIMEOUT" } });
      expect(byId.b?.status).toBe("completed");
      expect(byId.c?.status).toBe("pending");
      const events = await api.engine.runEvents(runId);
      expect(events.at(-1)).toMatchObject({ type: "pipeline_error", error_type: "RUN_TIMEOUT" });

      // Resumed, it has 600 ms again: still too little for the move.
      await api.engine.resumeRun(runId);
      const again = await api.engine.waitForRun(runId, 3000);
      expect(again.status).toBe("failed");
      expect(again.error?.code).toBe("RUN_TIMEOUT");
      expect(again.nodes.find((node) => node.nodeId === "b")?.attempts).toBe(1);
    });
  });

  it("lets a run that finishes in time complete, and takes timeout_ms from the run request over the pipeline's", async () => {
    await withRig(devices, async (api) => {
      const pipeline = { ...doc("quick", [move("a", "servo-1", 5)]), timeout_ms: 1 };
      const response = await api.post("/api/runs", { pipeline, timeout_ms: 10_000 });
      expect(response.status).toBe(202);
      const { run_id: runId } = (await response.json()) as { run_id: string };
      expect((await api.engine.waitForRun(runId, 5000)).status).toBe("completed");

      const bad = await api.post("/api/runs", { pipeline, timeout_ms: 0 });
      expect(bad.status).toBe(400);
      const badDocument = await api.post("/api/runs", { pipeline: { ...pipeline, timeout_ms: "soon" } });
      expect(badDocument.status).toBe(400);
    });
  });
});
