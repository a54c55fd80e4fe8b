import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { RunStatus } from "../../src/engine/index.js";
import { redisKeys } from "../../src/engine/redis/keys.js";
import { RunLedger } from "../../src/engine/redis/run-ledger.js";
import { createTestApi, servo, startTestWorker, withRig } from "../support/context.js";
import { commands, readJournal } from "../support/journal.js";
import { doc, move } from "../support/pipelines.js";
import { untilRunStatus } from "../support/runs.js";

type Api = Parameters<Parameters<typeof withRig>[1]>[0];

const journalFile = () => join(mkdtempSync(join(tmpdir(), "rigflow-approval-")), "journal.jsonl");

/** Each command the servo began, as "<function> <position>", with how it ended. */
const journalOf = (file: string) =>
  commands(readJournal(file)).map(
    (command) => `${command.function} ${command.params?.position ?? ""} ${command.end?.outcome ?? "?"}`,
  );

const untilRun = (api: Api, runId: string, status: RunStatus) => untilRunStatus(api.engine, runId, status);

const nodeStatus = async (api: Api, runId: string, nodeId: string) =>
  (await api.engine.getRun(runId)).nodes.find((node) => node.nodeId === nodeId)?.status;

const untilNode = (api: Api, runId: string, nodeId: string, status: string) =>
  expect.poll(() => nodeStatus(api, runId, nodeId), { timeout: 10_000, interval: 10 }).toBe(status);

const decide = (
  api: Api,
  runId: string,
  nodeId: string,
  decision: "approve" | "reject",
  body: unknown,
  headers: Record<string, string> = {},
) => api.post(`/api/runs/${runId}/nodes/${nodeId}/${decision}`, body, headers);

const waitingRunIds = async (api: Api) =>
  ((await (await api.get("/api/runs?status=waiting")).json()) as { runs: { run_id: string }[] }).runs.map(
    (run) => run.run_id,
  );

/** home, then an approval asking where to go, then a move there: the approval's output feeds it. */
const loadThenMove = (approval: Record<string, unknown> = {}) =>
  doc(
    "load-then-move",
    [
      { id: "home", device_id: "servo-1", function_id: "home" },
      {
        id: "load",
        type: "approval",
        message: "Load the plate, then approve",
        outputs: { plate_id: "string", position: "number" },
        ...approval,
      },
      { id: "go", device_id: "servo-1", function_id: "move", params: {} },
    ] as never,
    [
      { source: "home", target: "load" },
      { source: "load", target: "go", source_output: "position", target_input: "position" },
    ],
  );

describe("approval nodes (type approval; POST .../approve and .../reject)", () => {
  it("waits once its predecessors are done; approve's outputs, checked, flow along its edges", async () => {
    const journal = journalFile();
    await withRig([servo("servo-1", { speed: 1000, journal })], async (api) => {
      const { runId } = await api.engine.submitRun({ document: loadThenMove() });
      await untilNode(api, runId, "load", "waiting");
      const run = (await (await api.get(`/api/runs/${runId}`)).json()) as {
        status: string;
        nodes: Record<string, unknown>;
      };
      expect(run.status).toBe("running");
      expect(run.nodes.load).toMatchObject({
        type: "approval",
        device_id: null,
        status: "waiting",
        approval: {
          message: "Load the plate, then approve",
          outputs: { plate_id: "string", position: "number" },
          timeout_at: null,
        },
      });
      const events = await api.engine.runEvents(runId);
      expect(events.find((event) => event.type === "node_waiting")).toMatchObject({
        node_id: "load",
        message: "Load the plate, then approve",
        outputs: { plate_id: "string", position: "number" },
        timeout_at: null,
      });
      expect(await waitingRunIds(api)).toEqual([runId]);
      // Only home has run: the move waits for the person.
      expect(journalOf(journal)).toEqual(["home  completed"]);

      const badType = await decide(api, runId, "load", "approve", {
        outputs: { plate_id: "P1", position: "40" },
      });
      expect(badType.status).toBe(400);
      expect(await badType.json()).toMatchObject({
        error: { code: "VALIDATION_FAILED", details: { field: "outputs.position" } },
      });
      const missing = await decide(api, runId, "load", "approve", { outputs: { position: 40 } });
      expect(await missing.json()).toMatchObject({ error: { details: { field: "outputs.plate_id" } } });
      const unknown = await decide(api, runId, "load", "approve", {
        outputs: { plate_id: "P1", position: 40, volume: 3 },
      });
      expect(unknown.status).toBe(400);
      const notApproval = await decide(api, runId, "go", "approve", {});
      expect(notApproval.status).toBe(409);
      expect(await notApproval.json()).toMatchObject({ error: { code: "NODE_NOT_WAITING" } });
      expect((await decide(api, runId, "nope", "approve", {})).status).toBe(404);
      // Its job, in the runs queue, is the node's: the queue API will not remove it from a run
      // going on; promoted, it only looks at its node again.
      const jobPath = `/api/queues/runs/jobs/${runId}__0__load`;
      const removal = await api.post(`${jobPath}/remove`, {});
      expect(removal.status).toBe(409);
      expect(await removal.json()).toMatchObject({ error: { code: "RUN_NOT_ENDED" } });
      expect((await api.post(`${jobPath}/promote`, {})).status).toBe(200);
      await expect
        .poll(async () => await (await api.get(`/api/queues/runs/jobs/${runId}__0__load`)).json(), {
          timeout: 5000,
          interval: 20,
        })
        .toMatchObject({ state: "delayed" });
      expect(await nodeStatus(api, runId, "load")).toBe("waiting");

      const body = { outputs: { plate_id: "P1", position: 40 } };
      const approved = await decide(api, runId, "load", "approve", body);
      expect(approved.status).toBe(202);
      expect(await approved.json()).toEqual({
        run_id: runId,
        node_id: "load",
        decision: "approve",
        node_status: "completed",
        status: "running",
      });
      // The same request again answers as the first did, and changes nothing.
      expect((await decide(api, runId, "load", "approve", body)).status).toBe(202);
      const ended = await api.engine.waitForRun(runId, 10_000);
      expect(ended.status).toBe("completed");
      expect(journalOf(journal)).toEqual(["home  completed", "move 40 completed"]);
      const load = ended.nodes.find((node) => node.nodeId === "load");
      expect(load).toMatchObject({ status: "completed", completedBy: "operator", outputs: body.outputs });
      const after = await api.engine.runEvents(runId);
      expect(after.filter((event) => event.type === "node_completed" && event.node_id === "load")).toEqual([
        expect.objectContaining({ completed_by: "operator", outputs: body.outputs }),
      ]);
      expect(await waitingRunIds(api)).toEqual([]);
      // Approving a completed approval is refused.
      const late = await decide(api, runId, "load", "approve", { outputs: { plate_id: "P2", position: 1 } });
      expect(late.status).toBe(409);
    });
  });

  it("reject fails it REJECTED and the run with it; its successor never runs", async () => {
    const journal = journalFile();
    await withRig([servo("servo-1", { speed: 1000, journal })], async (api) => {
      const { runId } = await api.engine.submitRun({ document: loadThenMove() });
      await untilNode(api, runId, "load", "waiting");
      const rejected = await decide(api, runId, "load", "reject", { reason: "the plate is cracked" });
      expect(rejected.status).toBe(202);
      expect(await rejected.json()).toMatchObject({ decision: "reject", node_status: "failed" });
      expect((await decide(api, runId, "load", "reject", { reason: "the plate is cracked" })).status).toBe(
        202,
      );
      const ended = await api.engine.waitForRun(runId, 10_000);
      expect(ended.status).toBe("failed");
      expect(ended.error).toMatchObject({ code: "REJECTED", nodeId: "load" });
      expect(ended.error?.message).toContain("the plate is cracked");
      expect(ended.nodes.map((node) => [node.nodeId, node.status])).toEqual([
        ["home", "completed"],
        ["load", "failed"],
        ["go", "pending"],
      ]);
      expect(journalOf(journal)).toEqual(["home  completed"]);
      const approveLate = await decide(api, runId, "load", "approve", {
        outputs: { plate_id: "P", position: 1 },
      });
      expect(approveLate.status).toBe(409);
      expect(await approveLate.json()).toMatchObject({ error: { code: "NODE_NOT_WAITING" } });

      // Retried, the run asks again (home keeps its outputs and does not run again).
      expect((await api.post(`/api/runs/${runId}/retry`, {})).status).toBe(202);
      await untilNode(api, runId, "load", "waiting");
      const approved = await decide(api, runId, "load", "approve", {
        outputs: { plate_id: "P2", position: 12 },
      });
      expect(approved.status).toBe(202);
      expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("completed");
      expect(journalOf(journal)).toEqual(["home  completed", "move 12 completed"]);
    });
  });

  it("past its timeout_ms it fails APPROVAL_TIMEOUT; held instead with on_failure hold, then completed by a person", async () => {
    const journal = journalFile();
    await withRig([servo("servo-1", { speed: 1000, journal })], async (api) => {
      const failing = await api.engine.submitRun({ document: loadThenMove({ timeout_ms: 300 }) });
      const failed = await api.engine.waitForRun(failing.runId, 10_000);
      expect(failed.status).toBe("failed");
      expect(failed.error).toMatchObject({ code: "APPROVAL_TIMEOUT", nodeId: "load" });

      const holding = await api.engine.submitRun({
        document: loadThenMove({ timeout_ms: 300, on_failure: "hold" }),
      });
      await untilRun(api, holding.runId, "held");
      expect(await nodeStatus(api, holding.runId, "load")).toBe("held");
      const events = await api.engine.runEvents(holding.runId);
      expect(events.find((event) => event.type === "node_held")).toMatchObject({
        node_id: "load",
        error_type: "APPROVAL_TIMEOUT",
      });
      const wrong = await api.post(`/api/runs/${holding.runId}/nodes/load/recover`, {
        action: "complete",
        outputs: { plate_id: "P9", position: 30, volume: 1 },
      });
      expect(wrong.status).toBe(400);
      const completed = await api.post(`/api/runs/${holding.runId}/nodes/load/recover`, {
        action: "complete",
        outputs: { plate_id: "P9", position: 30 },
      });
      expect(completed.status).toBe(202);
      expect((await api.engine.waitForRun(holding.runId, 10_000)).status).toBe("completed");
      expect(journalOf(journal)).toEqual(["home  completed", "home  completed", "move 30 completed"]);
    });
  });

  it("a pause puts a waiting approval back to queued; on resume it waits afresh. A cancel ends it", async () => {
    const journal = journalFile();
    await withRig([servo("servo-1", { speed: 1000, journal })], async (api) => {
      const { runId } = await api.engine.submitRun({ document: loadThenMove({ timeout_ms: 600_000 }) });
      await untilNode(api, runId, "load", "waiting");
      expect((await api.post(`/api/runs/${runId}/pause`, {})).status).toBe(202);
      await untilRun(api, runId, "paused");
      expect(await nodeStatus(api, runId, "load")).toBe("queued");
      expect(await waitingRunIds(api)).toEqual([]);
      const refused = await decide(api, runId, "load", "approve", {
        outputs: { plate_id: "P", position: 5 },
      });
      expect(refused.status).toBe(409);

      expect((await api.post(`/api/runs/${runId}/resume`, {})).status).toBe(202);
      await untilNode(api, runId, "load", "waiting");
      const waits = (await api.engine.runEvents(runId)).filter((event) => event.type === "node_waiting");
      expect(waits).toHaveLength(2);
      expect(await waitingRunIds(api)).toEqual([runId]);

      expect((await api.post(`/api/runs/${runId}/cancel`, {})).status).toBe(202);
      const ended = await api.engine.waitForRun(runId, 10_000);
      expect(ended.status).toBe("cancelled");
      expect(ended.nodes.find((node) => node.nodeId === "load")).toMatchObject({
        status: "cancelled",
        error: { code: "CANCELLED" },
      });
      expect(await waitingRunIds(api)).toEqual([]);
      expect(journalOf(journal)).toEqual(["home  completed"]);
    });
  });

  it("a branch beside a waiting approval runs on; approving starts its successor while the branch still runs", async () => {
    const journal = journalFile();
    await withRig(
      [servo("servo-1", { speed: 1000, journal }), servo("servo-2", { speed: 20 })],
      async (api) => {
        const { runId } = await api.engine.submitRun({
          document: doc(
            "beside",
            [
              { id: "ok", type: "approval", message: "Go?" },
              move("after", "servo-1", 15),
              // 160 degrees at 20 degrees/s: 8 s, long after the approval.
              move("slow", "servo-2", 160),
            ] as never,
            [{ source: "ok", target: "after" }],
          ),
        });
        await untilNode(api, runId, "ok", "waiting");
        await untilNode(api, runId, "slow", "running");
        expect((await decide(api, runId, "ok", "approve", {})).status).toBe(202);
        await untilNode(api, runId, "after", "completed");
        expect(await nodeStatus(api, runId, "slow")).toBe("running");
        expect(journalOf(journal)).toEqual(["move 15 completed"]);
        expect((await api.post(`/api/runs/${runId}/cancel`, {})).status).toBe(202);
        expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("cancelled");
      },
    );
  });

  it("an approval recorded whose job was never brought forward (the API died between) is seen at the next look", async () => {
    const journal = journalFile();
    const devices = [servo("servo-1", { speed: 1000, journal })];
    const api = createTestApi(devices);
    const worker = await startTestWorker(api.prefix, devices, { approvalRecheckMs: 300 });
    try {
      const { runId } = await api.engine.submitRun({ document: loadThenMove({ timeout_ms: 600_000 }) });
      await untilNode(api, runId, "load", "waiting");
      // What the API's approve does up to its death: the script alone, with no promote of the job.
      const run = await api.engine.runs.loadRun(runId);
      const node = run?.plan.nodes.find((candidate) => candidate.id === "load");
      if (!run || !node) throw new Error("the run has no node 'load'");
      const ledger = new RunLedger(api.redis, redisKeys(api.prefix));
      const outputs = { plate_id: "P3", position: 25 };
      await ledger.approvals.decide(
        { runId, pipelineId: run.pipelineId, nodeId: "load" },
        node,
        {
          action: "approve",
          outputs,
        },
        "",
      );
      expect(await nodeStatus(api, runId, "load")).toBe("completed");
      const ended = await api.engine.waitForRun(runId, 10_000);
      expect(ended.status).toBe("completed");
      expect(journalOf(journal)).toEqual(["home  completed", "move 25 completed"]);
      // The person's retry of the request answers as the first, and runs nothing again.
      const again = await decide(api, runId, "load", "approve", { outputs });
      expect(again.status).toBe(202);
      expect(await again.json()).toMatchObject({ node_status: "completed", status: "completed" });
      expect(journalOf(journal)).toHaveLength(2);
    } finally {
      await worker.close();
      await api.close();
    }
  });

  it("a run reserving its devices keeps them while its approval waits, and lets them go at its end", async () => {
    const journal = journalFile();
    await withRig([servo("servo-1", { speed: 1000, journal })], async (api) => {
      const { runId } = await api.engine.submitRun({
        document: { ...loadThenMove(), reserve_devices: true },
      });
      await untilNode(api, runId, "load", "waiting");
      const reservedBy = async () => {
        const { devices } = (await (await api.get("/api/devices")).json()) as {
          devices: { device_id: string; reserved_by: string | null }[];
        };
        return devices.find((device) => device.device_id === "servo-1")?.reserved_by;
      };
      expect(await reservedBy()).toBe(runId);
      const other = await api.engine.submitRun({ document: doc("other", [move("m", "servo-1", 5)]) });
      expect(
        (await decide(api, runId, "load", "approve", { outputs: { plate_id: "P", position: 70 } })).status,
      ).toBe(202);
      expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("completed");
      expect((await api.engine.waitForRun(other.runId, 10_000)).status).toBe("completed");
      // The other run's move came only once the reserving run had let servo-1 go.
      expect(journalOf(journal)).toEqual(["home  completed", "move 70 completed", "move 5 completed"]);
      expect(await reservedBy()).toBeNull();
    });
  });

  it("past its deadline while no worker serves the runs queue, it takes no decision, and fails once one is back", async () => {
    const journal = journalFile();
    const devices = [servo("servo-1", { speed: 1000, journal })];
    const api = createTestApi(devices);
    let worker = await startTestWorker(api.prefix, devices);
    try {
      const { runId } = await api.engine.submitRun({ document: loadThenMove({ timeout_ms: 1500 }) });
      await untilNode(api, runId, "load", "waiting");
      const timeoutAt = Date.parse(
        (await api.engine.getRun(runId)).nodes.find((node) => node.nodeId === "load")?.approval?.timeoutAt ??
          "",
      );
      await worker.close();
      await expect.poll(() => Date.now() > timeoutAt, { timeout: 5000, interval: 50 }).toBe(true);
      const late = await decide(api, runId, "load", "approve", { outputs: { plate_id: "P", position: 9 } });
      expect(late.status).toBe(409);
      expect(await late.json()).toMatchObject({ error: { code: "NODE_NOT_WAITING" } });
      expect(await nodeStatus(api, runId, "load")).toBe("waiting");
      worker = await startTestWorker(api.prefix, devices);
      const ended = await api.engine.waitForRun(runId, 10_000);
      expect(ended.error).toMatchObject({ code: "APPROVAL_TIMEOUT", nodeId: "load" });
      expect(journalOf(journal)).toEqual(["home  completed"]);
    } finally {
      await worker.close();
      await api.close();
    }
  });

  it("an approval whose job was lost goes on waiting: the run job adds it again", async () => {
    const journal = journalFile();
    await withRig([servo("servo-1", { speed: 1000, journal })], async (api) => {
      const { runId } = await api.engine.submitRun({ document: loadThenMove({ timeout_ms: 600_000 }) });
      await untilNode(api, runId, "load", "waiting");
      const jobId = `${runId}__0__load`;
      const runs = api.engine.queues.runs();
      const first = await runs.getJob(jobId);
      // Taken away behind the engine's back (the queue API refuses it): its run job wakes, with no child.
      await first?.remove();
      await expect
        .poll(async () => (await runs.getJob(jobId))?.timestamp, { timeout: 10_000, interval: 20 })
        .toBeGreaterThan(first?.timestamp ?? 0);
      expect(await nodeStatus(api, runId, "load")).toBe("waiting");
      const waits = (await api.engine.runEvents(runId)).filter((event) => event.type === "node_waiting");
      expect(waits).toHaveLength(1);
      expect(
        (await decide(api, runId, "load", "approve", { outputs: { plate_id: "P", position: 8 } })).status,
      ).toBe(202);
      expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("completed");
      expect(journalOf(journal)).toEqual(["home  completed", "move 8 completed"]);
    });
  });
});
