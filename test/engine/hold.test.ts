import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { RunStatus } from "../../src/engine/index.js";
import { servo, withRig } from "../support/context.js";
import { untilRunStatus } from "../support/runs.js";
import { commands, readJournal } from "../support/journal.js";
import { chainDoc, doc, move } from "../support/pipelines.js";

type Api = Parameters<Parameters<typeof withRig>[1]>[0];

const journalFile = () => join(mkdtempSync(join(tmpdir(), "rigflow-hold-")), "journal.jsonl");

const untilRun = (api: Api, runId: string, status: RunStatus) => untilRunStatus(api.engine, runId, status);

/** Each command the servo began, as "<function> <position>", in order, with how it ended. */
const journalOf = (file: string) =>
  commands(readJournal(file)).map(
    (command) => `${command.function} ${command.params?.position ?? ""} ${command.end?.outcome ?? "?"}`,
  );

const statuses = async (api: Api, runId: string): Promise<[string, string][]> =>
  (await api.engine.getRun(runId)).nodes.map((node) => [node.nodeId, node.status]);

const recover = (
  api: Api,
  runId: string,
  nodeId: string,
  body: unknown,
  headers: Record<string, string> = {},
) => api.post(`/api/runs/${runId}/nodes/${nodeId}/recover`, body, headers);

describe("hold on failure, and a person's recovery (on_failure, POST .../nodes/{id}/recover)", () => {
  it("holds the node and the run when its attempts are used up; retry runs it again with fresh attempts", async () => {
    const journal = journalFile();
    // The first move fails (retryably); the node has one attempt.
    await withRig([servo("servo-1", { speed: 1000, journal, fail_first: { move: 1 } })], async (api) => {
      const { runId } = await api.engine.submitRun({
        document: chainDoc(
          "chain",
          { ...move("a", "servo-1", 10), on_failure: "hold" },
          move("b", "servo-1", 20),
        ),
      });
      await untilRun(api, runId, "held");
      expect(await statuses(api, runId)).toEqual([
        ["a", "held"],
        ["b", "pending"],
      ]);
      const events = await api.engine.runEvents(runId);
      expect(events.find((event) => event.type === "node_held")).toMatchObject({ node_id: "a" });
      expect(events.map((event) => event.type)).not.toContain("node_failed");
      expect(journalOf(journal)).toEqual(["move 10 failed"]);

      // Not held: refused, whatever the action.
      const notHeld = await recover(api, runId, "b", { action: "retry" });
      expect(notHeld.status).toBe(409);
      expect(await notHeld.json()).toMatchObject({ error: { code: "NODE_NOT_HELD" } });
      expect((await recover(api, runId, "nope", { action: "retry" })).status).toBe(404);
      expect((await recover(api, runId, "a", { action: "later" })).status).toBe(400);

      const retried = await recover(api, runId, "a", { action: "retry" });
      expect(retried.status).toBe(202);
      expect(await retried.json()).toEqual({
        run_id: runId,
        node_id: "a",
        action: "retry",
        status: "running",
      });
      // The same request again answers as the first did.
      expect((await recover(api, runId, "a", { action: "retry" })).status).toBe(202);
      const ended = await api.engine.waitForRun(runId, 10_000);
      expect(ended.status).toBe("completed");
      expect(journalOf(journal)).toEqual(["move 10 failed", "move 10 completed", "move 20 completed"]);
      const after = await api.engine.runEvents(runId);
      expect(after.find((event) => event.type === "pipeline_resumed")).toMatchObject({ reason: "recovered" });
    });
  });

  it("a recovery sent again with its Idempotency-Key is not made twice, even once the node is held anew", async () => {
    const journal = journalFile();
    await withRig([servo("servo-1", { speed: 1000, journal, fail_first: { move: 2 } })], async (api) => {
      const { runId } = await api.engine.submitRun({
        document: doc("twice", [{ ...move("a", "servo-1", 10), on_failure: "hold" }]),
      });
      await untilRun(api, runId, "held");
      const key = { "idempotency-key": "retry-a-1" };
      expect((await recover(api, runId, "a", { action: "retry" }, key)).status).toBe(202);
      // The retry ran and failed again: held anew.
      await expect
        .poll(() => journalOf(journal), { timeout: 10_000, interval: 10 })
        .toEqual(["move 10 failed", "move 10 failed"]);
      await untilRun(api, runId, "held");
      // The same request again (its answer was lost, say): answered, and nothing runs.
      const again = await recover(api, runId, "a", { action: "retry" }, key);
      expect(again.status).toBe(202);
      expect((await api.engine.getRun(runId)).status).toBe("held");
      expect(journalOf(journal)).toHaveLength(2);
      // A new decision runs it again.
      expect((await recover(api, runId, "a", { action: "retry" })).status).toBe(202);
      expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("completed");
      expect(journalOf(journal)).toEqual(["move 10 failed", "move 10 failed", "move 10 completed"]);
    });
  });

  it("complete gives the held node a person's outputs, checked, which flow along its edges", async () => {
    const journal = journalFile();
    await withRig([servo("servo-1", { speed: 1000, journal })], async (api) => {
      // 500 is past the servo's range: the move fails, and the pipeline holds every node on failure.
      const { runId } = await api.engine.submitRun({
        document: {
          ...doc(
            "mapped",
            [move("a", "servo-1", 500), { id: "b", device_id: "servo-1", function_id: "move", params: {} }],
            [{ source: "a", target: "b", source_output: "position", target_input: "position" }],
          ),
          on_failure: "hold",
        },
      });
      await untilRun(api, runId, "held");

      const skip = await recover(api, runId, "a", { action: "skip" });
      expect(skip.status).toBe(409);
      expect(await skip.json()).toMatchObject({ error: { code: "NODE_OUTPUTS_NEEDED" } });
      const unknown = await recover(api, runId, "a", { action: "complete", outputs: { volume: 3 } });
      expect(unknown.status).toBe(400);
      const missing = await recover(api, runId, "a", { action: "complete", outputs: { complete: true } });
      expect(missing.status).toBe(400);
      expect(await missing.json()).toMatchObject({ error: { code: "VALIDATION_FAILED" } });
      expect(await statuses(api, runId)).toEqual([
        ["a", "held"],
        ["b", "pending"],
      ]);

      const completed = await recover(api, runId, "a", {
        action: "complete",
        outputs: { complete: true, position: 42 },
      });
      expect(completed.status).toBe(202);
      const ended = await api.engine.waitForRun(runId, 10_000);
      expect(ended.status).toBe("completed");
      expect(journalOf(journal)).toEqual(["move 500 failed", "move 42 completed"]);
      const view = (await (await api.get(`/api/runs/${runId}`)).json()) as {
        nodes: Record<string, { status: string; outputs: unknown; completed_by?: string }>;
      };
      expect(view.nodes.a).toMatchObject({
        status: "completed",
        outputs: { complete: true, position: 42 },
        completed_by: "operator",
      });
      expect(view.nodes.b?.completed_by).toBeUndefined();
      const events = await api.engine.runEvents(runId);
      expect(events.find((event) => event.type === "node_completed" && event.node_id === "a")).toMatchObject({
        completed_by: "operator",
      });
    });
  });

  it("skip lets the successors run without the node; the run completes", async () => {
    const journal = journalFile();
    await withRig([servo("servo-1", { speed: 1000, journal })], async (api) => {
      const { runId } = await api.engine.submitRun({
        document: chainDoc(
          "skippable",
          { ...move("a", "servo-1", 500), on_failure: "hold" },
          move("b", "servo-1", 20),
        ),
      });
      await untilRun(api, runId, "held");
      expect((await recover(api, runId, "a", { action: "skip" })).status).toBe(202);
      const ended = await api.engine.waitForRun(runId, 10_000);
      expect(ended.status).toBe("completed");
      expect(await statuses(api, runId)).toEqual([
        ["a", "skipped"],
        ["b", "completed"],
      ]);
      expect(journalOf(journal)).toEqual(["move 500 failed", "move 20 completed"]);
      expect((await api.engine.runEvents(runId)).map((event) => event.type)).toContain("node_skipped");
    });
  });

  it("a held node is recovered once its run rests: its other running nodes finish first", async () => {
    const journal = journalFile();
    await withRig(
      [servo("servo-1", { speed: 1000, journal }), servo("servo-2", { speed: 100, journal })],
      async (api) => {
        const { runId } = await api.engine.submitRun({
          // "bad" fails once "long" is surely running: after "first", which takes about as long as
          // "long" takes to be picked up.
          document: doc(
            "branches",
            [
              move("first", "servo-1", 100), // 0.1 s
              { ...move("bad", "servo-1", 500), on_failure: "hold" },
              move("long", "servo-2", 100), // 1 s
            ],
            [{ source: "first", target: "bad" }],
          ),
        });
        await expect
          .poll(async () => Object.fromEntries(await statuses(api, runId)), { timeout: 10_000, interval: 10 })
          .toEqual({ first: "completed", bad: "held", long: "running" });
        const early = await recover(api, runId, "bad", { action: "skip" });
        expect(early.status).toBe(409);
        expect(await early.json()).toMatchObject({ error: { code: "RUN_NOT_RESTING" } });

        await untilRun(api, runId, "held");
        expect(Object.fromEntries(await statuses(api, runId))).toEqual({
          first: "completed",
          bad: "held",
          long: "completed",
        });
        expect((await recover(api, runId, "bad", { action: "skip" })).status).toBe(202);
        expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("completed");
      },
    );
  });

  it("a held run can be cancelled, and a held node of a paused run waits for the resume", async () => {
    await withRig([servo("servo-1", { speed: 1000 })], async (api) => {
      const { runId } = await api.engine.submitRun({
        document: chainDoc(
          "cancelled",
          { ...move("a", "servo-1", 500), on_failure: "hold" },
          move("b", "servo-1", 1),
        ),
      });
      await untilRun(api, runId, "held");
      // Paused while held: the recovery is recorded, and the run goes on only when resumed.
      expect((await api.post(`/api/runs/${runId}/pause`, {})).status).toBe(202);
      await untilRun(api, runId, "paused");
      expect((await recover(api, runId, "a", { action: "skip" })).status).toBe(202);
      expect((await api.engine.getRun(runId)).status).toBe("paused");
      expect((await api.post(`/api/runs/${runId}/resume`, {})).status).toBe(202);
      expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("completed");

      const second = await api.engine.submitRun({
        document: chainDoc(
          "cancel-held",
          { ...move("a", "servo-1", 500), on_failure: "hold" },
          move("b", "servo-1", 1),
        ),
      });
      await untilRun(api, second.runId, "held");
      expect((await api.post(`/api/runs/${second.runId}/cancel`, {})).status).toBe(202);
      expect((await api.engine.waitForRun(second.runId, 10_000)).status).toBe("cancelled");
      const late = await recover(api, second.runId, "a", { action: "retry" });
      expect(late.status).toBe(409);
      expect(await late.json()).toMatchObject({ error: { code: "RUN_NOT_RESTING" } });
    });
  });
});
