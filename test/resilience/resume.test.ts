import { describe, expect, it } from "vitest";
import type { RunEvent } from "../../src/engine/index.js";
import { servo, withRig } from "../support/context.js";
import { doc, move } from "../support/pipelines.js";

const executed = (events: RunEvent[]) =>
  events.flatMap((event) => (event.type === "node_executing" ? [event.node_id] : [])).sort();

describe("resume of a failed diamond", () => {
  it("runs only the failed node and its descendants again, after any number of failures, with the pipeline edited and then deleted", async () => {
    // 'c' fails its first two moves (one attempt each): the run fails twice before it completes.
    const devices = [servo("servo-1"), servo("flaky-1", { fail_first: { move: 2 } })];
    await withRig(devices, async (api) => {
      const once = { retry: { attempts: 1, backoff_ms: 0 } };
      const diamond = doc(
        "diamond",
        [
          move("a", "servo-1", 10),
          move("b", "servo-1", 20),
          { ...move("c", "flaky-1", 30), ...once },
          { ...move("d", "servo-1", 0), ...once },
        ],
        [
          { source: "a", target: "b" },
          { source: "a", target: "c" },
          { source: "b", target: "d", source_output: "position", target_input: "position" },
          { source: "c", target: "d" },
        ],
      );
      await api.engine.savePipeline(diamond);
      const { runId } = await api.engine.submitRun({ pipelineId: "diamond" });
      const first = await api.engine.waitForRun(runId, 10_000);
      expect(first.status).toBe("failed");
      expect(first.error).toMatchObject({ nodeId: "c", code: "DEVICE_ERROR" });

      // The pipeline is edited (d would move elsewhere): the run keeps the copy it started with.
      await api.engine.savePipeline({
        ...diamond,
        nodes: diamond.nodes.slice(0, 3),
        edges: diamond.edges.slice(0, 2),
      });
      await api.engine.resumeRun(runId);
      const second = await api.engine.waitForRun(runId, 10_000);
      expect(second.status).toBe("failed");
      expect(second.error).toMatchObject({ nodeId: "c" });

      await api.engine.deletePipeline("diamond");
      await api.engine.resumeRun(runId);
      const done = await api.engine.waitForRun(runId, 10_000);
      expect(done.status).toBe("completed");
      expect(done.pipelineVersion).toBe(1);
      const outputs = Object.fromEntries(done.nodes.map((node) => [node.nodeId, node.outputs]));
      expect(outputs.d).toEqual({ complete: true, position: 20 }); // b's output, fed along the edge

      const events = await api.engine.runEvents(runId);
      expect(executed(events)).toEqual(["a", "b", "c", "c", "c", "d"]);
      expect(events.filter((event) => event.type === "pipeline_resumed")).toHaveLength(2);
      expect(events.at(-1)).toMatchObject({ type: "pipeline_completed", nodes_executed: 4 });
    });
  });
});
