import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { RunStatus } from "../../src/engine/index.js";
import { servo, withRig } from "../support/context.js";
import { untilRunStatus } from "../support/runs.js";
import { commands, readJournal } from "../support/journal.js";
import { chainDoc, doc, move, step } from "../support/pipelines.js";

type Api = Parameters<Parameters<typeof withRig>[1]>[0];

const journalFile = () => join(mkdtempSync(join(tmpdir(), "rigflow-pause-")), "journal.jsonl");

const untilNode = (api: Api, runId: string, nodeId: string, status: string) =>
  expect
    .poll(async () => (await api.engine.getRun(runId)).nodes.find((node) => node.nodeId === nodeId)?.status, {
      timeout: 10_000,
      interval: 10,
    })
    .toBe(status);

const untilRun = (api: Api, runId: string, status: RunStatus) => untilRunStatus(api.engine, runId, status);

const eventTypes = async (api: Api, runId: string) =>
  (await api.engine.runEvents(runId)).map((event) => event.type);

/** Each command the servo began, as "<function> <first param>", in order. */
const started = (journal: string) =>
  commands(readJournal(journal)).map((command) =>
    `${command.function} ${Object.values(command.params ?? {})[0] ?? ""}`.trim(),
  );

describe("pause and resume a run (POST /api/runs/{id}/pause, /resume)", () => {
  it("deferred: the running node finishes, nothing more starts, and resume goes on from there", async () => {
    const journal = journalFile();
    // speed 100: a move of 80 takes 0.8 s.
    await withRig([servo("servo-1", { speed: 100, journal })], async (api) => {
      const { runId } = await api.engine.submitRun({
        document: chainDoc(
          "chain",
          move("a", "servo-1", 80),
          move("b", "servo-1", 10),
          move("c", "servo-1", 20),
        ),
      });
      await untilNode(api, runId, "a", "running");
      const paused = await api.post(`/api/runs/${runId}/pause`, {});
      expect(paused.status).toBe(202);
      expect(await paused.json()).toEqual({
        run_id: runId,
        status: "running",
        mode: "deferred",
        pause_requested: true,
      });

      await untilRun(api, runId, "paused");
      const run = await api.engine.getRun(runId);
      expect(run.nodes.map((node) => [node.nodeId, node.status])).toEqual([
        ["a", "completed"],
        ["b", "pending"],
        ["c", "pending"],
      ]);
      expect(started(journal)).toEqual(["move 80"]);
      // Asked again: the same answer, nothing more.
      expect((await api.post(`/api/runs/${runId}/pause`, { mode: "deferred" })).status).toBe(202);

      const resumed = await api.post(`/api/runs/${runId}/resume`, {});
      expect(resumed.status).toBe(202);
      expect(await resumed.json()).toEqual({ run_id: runId, status: "running" });
      const ended = await api.engine.waitForRun(runId, 10_000);
      expect(ended.status).toBe("completed");
      expect(started(journal)).toEqual(["move 80", "move 10", "move 20"]);
      const events = await api.engine.runEvents(runId);
      expect(events.find((event) => event.type === "pipeline_paused")).toMatchObject({ mode: "deferred" });
      expect(events.find((event) => event.type === "pipeline_resumed")).toMatchObject({ reason: "unpaused" });
      const types = events.map((event) => event.type);
      expect(types.indexOf("pipeline_paused")).toBeGreaterThan(types.indexOf("node_completed"));
    });
  });

  it("immediate: an idempotent command is stopped, goes back to queued, and runs again on resume", async () => {
    const journal = journalFile();
    await withRig([servo("servo-1", { speed: 50, journal })], async (api) => {
      const { runId } = await api.engine.submitRun({
        document: chainDoc("long", move("a", "servo-1", 150), move("b", "servo-1", 10)),
      });
      await untilNode(api, runId, "a", "running");
      const paused = await api.post(`/api/runs/${runId}/pause`, { mode: "immediate" });
      expect(paused.status).toBe(202);
      await untilRun(api, runId, "paused");
      const run = await api.engine.getRun(runId);
      expect(run.nodes.map((node) => [node.nodeId, node.status])).toEqual([
        ["a", "queued"],
        ["b", "pending"],
      ]);
      const [first] = commands(readJournal(journal));
      expect(first?.end?.outcome).not.toBe("completed"); // stopped part-way, not waited for
      expect(await api.engine.queues.device("servo-1").getWaitingCount()).toBe(0);

      expect((await api.post(`/api/runs/${runId}/resume`, {})).status).toBe(202);
      expect((await api.engine.waitForRun(runId, 15_000)).status).toBe("completed");
      expect(started(journal)).toEqual(["move 150", "move 150", "move 10"]);
      expect(await eventTypes(api, runId)).toContain("pipeline_paused");
    });
  });

  it("immediate: a non-idempotent command is stopped and held (NODE_INTERRUPTED), never run again by itself", async () => {
    const journal = journalFile();
    await withRig([servo("servo-1", { speed: 50, journal })], async (api) => {
      const { runId } = await api.engine.submitRun({
        document: chainDoc("relative", step("dispense", "servo-1", 150), move("b", "servo-1", 10)),
      });
      await untilNode(api, runId, "dispense", "running");
      expect((await api.post(`/api/runs/${runId}/pause`, { mode: "immediate" })).status).toBe(202);
      await untilRun(api, runId, "paused");
      const node = (await api.engine.getRun(runId)).nodes[0];
      expect(node?.status).toBe("held");
      expect(node?.error).toMatchObject({ code: "NODE_INTERRUPTED" });
      const events = await api.engine.runEvents(runId);
      expect(events.find((event) => event.type === "node_held")).toMatchObject({
        node_id: "dispense",
        error_type: "NODE_INTERRUPTED",
      });

      // Resumed, the run holds: the held node waits for a person, and nothing after it starts.
      expect((await api.post(`/api/runs/${runId}/resume`, {})).status).toBe(202);
      await untilRun(api, runId, "held");
      expect(started(journal)).toEqual(["step 150"]);
      expect((await api.post(`/api/runs/${runId}/cancel`, {})).status).toBe(202);
      const ended = await api.engine.waitForRun(runId, 10_000);
      expect(ended.status).toBe("cancelled");
      expect(ended.nodes.map((n) => [n.nodeId, n.status])).toEqual([
        ["dispense", "held"],
        ["b", "pending"],
      ]);
      expect(started(journal)).toEqual(["step 150"]);
    });
  });

  it("immediate: a stopped command does not wait its turn behind other runs' jobs to let the run pause", async () => {
    const journal = journalFile();
    await withRig([servo("servo-1", { speed: 50, journal })], async (api) => {
      const { runId } = await api.engine.submitRun({ document: doc("first", [move("a", "servo-1", 150)]) });
      await untilNode(api, runId, "a", "running");
      // Three seconds of another run's moves wait for the device behind it.
      const other = await api.engine.submitRun({
        document: chainDoc("other", move("x", "servo-1", 50), move("y", "servo-1", 150)),
      });
      await untilNode(api, other.runId, "x", "queued");
      expect((await api.post(`/api/runs/${runId}/pause`, { mode: "immediate" })).status).toBe(202);
      await untilRun(api, runId, "paused");
      expect((await api.engine.getRun(other.runId)).nodes[1]?.status).toBe("pending"); // y not begun yet
      expect((await api.engine.getRun(runId)).nodes[0]?.status).toBe("queued");
      expect((await api.engine.waitForRun(other.runId, 15_000)).status).toBe("completed");
      expect((await api.post(`/api/runs/${runId}/resume`, {})).status).toBe(202);
      expect((await api.engine.waitForRun(runId, 15_000)).status).toBe("completed");
    });
  });

  it("resumed with a node held, the run holds at once: no other branch starts until it is recovered", async () => {
    const journal = journalFile();
    await withRig(
      [servo("servo-1", { speed: 50, journal }), servo("servo-2", { speed: 50, journal })],
      async (api) => {
        const { runId } = await api.engine.submitRun({
          document: doc(
            "branches",
            [step("dispense", "servo-1", 150), move("p", "servo-2", 150), move("q", "servo-2", 10)],
            [{ source: "p", target: "q" }],
          ),
        });
        await untilNode(api, runId, "dispense", "running");
        await untilNode(api, runId, "p", "running");
        expect((await api.post(`/api/runs/${runId}/pause`, { mode: "immediate" })).status).toBe(202);
        await untilRun(api, runId, "paused");
        expect(
          Object.fromEntries((await api.engine.getRun(runId)).nodes.map((n) => [n.nodeId, n.status])),
        ).toEqual({
          dispense: "held",
          p: "queued",
          q: "pending",
        });
        expect((await api.post(`/api/runs/${runId}/resume`, {})).status).toBe(202);
        await untilRun(api, runId, "held");
        expect(started(journal).sort()).toEqual(["move 150", "step 150"]);
        expect((await api.post(`/api/runs/${runId}/nodes/dispense/recover`, { action: "skip" })).status).toBe(
          202,
        );
        expect((await api.engine.waitForRun(runId, 15_000)).status).toBe("completed");
        expect(started(journal).sort()).toEqual(["move 10", "move 150", "move 150", "step 150"]);
      },
    );
  });

  it("takes a queued node's job out of its queue: the run pauses without waiting for a busy device", async () => {
    const journal = journalFile();
    await withRig([servo("servo-1", { speed: 50, journal })], async (api) => {
      const long = await api.engine.submitRun({ document: doc("long", [move("x", "servo-1", 150)]) });
      await untilNode(api, long.runId, "x", "running");
      const { runId } = await api.engine.submitRun({ document: doc("behind", [move("a", "servo-1", 10)]) });
      await untilNode(api, runId, "a", "queued");

      expect((await api.post(`/api/runs/${runId}/pause`, {})).status).toBe(202);
      await untilRun(api, runId, "paused");
      // The long move is still going: the pause did not wait for it.
      expect((await api.engine.getRun(long.runId)).nodes[0]?.status).toBe("running");
      expect((await api.engine.getRun(runId)).nodes[0]?.status).toBe("queued");

      expect((await api.post(`/api/runs/${runId}/resume`, {})).status).toBe(202);
      expect((await api.engine.waitForRun(runId, 15_000)).status).toBe("completed");
      expect((await api.engine.waitForRun(long.runId, 15_000)).status).toBe("completed");
      expect(started(journal)).toEqual(["move 150", "move 10"]);
    });
  });

  it("answers 409 where the run's state does not allow it, and a paused run can be cancelled", async () => {
    await withRig([servo("servo-1", { speed: 100 })], async (api) => {
      const { runId } = await api.engine.submitRun({
        document: chainDoc("chain", move("a", "servo-1", 50), move("b", "servo-1", 10)),
      });
      await untilNode(api, runId, "a", "running");
      const notPaused = await api.post(`/api/runs/${runId}/resume`, {});
      expect(notPaused.status).toBe(409);
      expect(await notPaused.json()).toMatchObject({ error: { code: "RUN_NOT_PAUSED" } });
      const badMode = await api.post(`/api/runs/${runId}/pause`, { mode: "later" });
      expect(badMode.status).toBe(400);
      expect((await api.post(`/api/runs/${runId}/retry`, {})).status).toBe(409);

      expect((await api.post(`/api/runs/${runId}/pause`, {})).status).toBe(202);
      await untilRun(api, runId, "paused");
      expect((await api.post(`/api/runs/${runId}/retry`, {})).status).toBe(409);
      expect((await api.get(`/api/runs?status=paused`)).status).toBe(200);
      const listed = (await (await api.get(`/api/runs?status=paused`)).json()) as {
        runs: { run_id: string }[];
      };
      expect(listed.runs.map((run) => run.run_id)).toEqual([runId]);

      expect((await api.post(`/api/runs/${runId}/cancel`, {})).status).toBe(202);
      const ended = await api.engine.waitForRun(runId, 10_000);
      expect(ended.status).toBe("cancelled");
      expect(ended.nodes.map((node) => [node.nodeId, node.status])).toEqual([
        ["a", "completed"],
        ["b", "pending"],
      ]);
      const over = await api.post(`/api/runs/${runId}/pause`, {});
      expect(over.status).toBe(409);
      expect(await over.json()).toMatchObject({ error: { code: "RUN_ALREADY_ENDED" } });
      expect((await api.post(`/api/runs/${runId}/resume`, {})).status).toBe(409);
      // A pause with no body at all is a deferred one.
      const missing = await api.app.request(`/api/runs/run_nope/pause`, { method: "POST" });
      expect(missing.status).toBe(404);
    });
  });
});
