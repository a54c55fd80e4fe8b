import { afterEach, describe, expect, it } from "vitest";
import { startApiProcess, type ApiProcess } from "../support/api-process.js";
import { newPrefix, redisUrl, servo } from "../support/context.js";
import { getJson, postJson } from "../support/http.js";
import { commands, readJournal } from "../support/journal.js";
import { chainDoc, doc, move, step } from "../support/pipelines.js";
import { startWorkerProcess, writeDevicesFile, type WorkerProcess } from "../support/worker-process.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stopAll } from "./scenario.js";

const workers: WorkerProcess[] = [];
const apis: ApiProcess[] = [];

afterEach(() => stopAll([...workers.splice(0), ...apis.splice(0)]));

interface RunView {
  status: string;
  error: { code: string } | null;
  nodes: Record<
    string,
    {
      status: string;
      error: { code: string } | null;
      finished_at: string | null;
      approval?: { timeout_at: string | null };
    }
  >;
}

/** An approval asking where to move, then the move there (the approval's output feeds it). */
const askThenMove = (id: string, device: string, timeoutMs: number) =>
  doc(
    id,
    [
      {
        id: "ask",
        type: "approval",
        message: "Where to?",
        outputs: { position: "number" },
        timeout_ms: timeoutMs,
      },
      { id: "go", device_id: device, function_id: "move", params: {} },
    ] as never,
    [{ source: "ask", target: "go", source_output: "position", target_input: "position" }],
  );

async function untilStatus(base: string, runId: string, status: string): Promise<RunView> {
  await expect
    .poll(async () => (await getJson<RunView>(base, `/api/runs/${runId}`)).status, {
      timeout: 20_000,
      interval: 20,
    })
    .toBe(status);
  return getJson<RunView>(base, `/api/runs/${runId}`);
}

async function untilNodeStatus(
  base: string,
  runId: string,
  nodeId: string,
  status: string,
): Promise<RunView> {
  await expect
    .poll(async () => (await getJson<RunView>(base, `/api/runs/${runId}`)).nodes[nodeId]?.status, {
      timeout: 20_000,
      interval: 20,
    })
    .toBe(status);
  return getJson<RunView>(base, `/api/runs/${runId}`);
}

const nodeStatuses = (run: RunView) =>
  Object.fromEntries(Object.entries(run.nodes).map(([id, node]) => [id, node.status]));

// A paused run, a held one, a paused one with a held node, and two waiting for an approval (one
// long, one that times out about when the processes come back), each left so while every process of
// the deployment is killed (SIGKILL) and started again: each is found as it was (the new worker's
// sweep leaves resting runs alone, nothing starts by itself), then goes on when a person acts, and
// the devices' journal shows no command run twice but the one a person chose to run again.
describe("paused, held and waiting runs across a kill -9 of every process", () => {
  it("rest as they were, start nothing, and go on when a person resumes or recovers them", async () => {
    const prefix = newPrefix();
    const journal = join(mkdtempSync(join(tmpdir(), "rigflow-operator-restart-")), "journal.jsonl");
    // speed 100: a move of 80 takes 0.8 s. 500 is past the servo's range: that move fails.
    const devicesFile = writeDevicesFile([
      servo("servo-1", { speed: 100, journal }),
      servo("servo-2", { speed: 100, journal }),
      servo("servo-3", { speed: 50, journal }),
    ]);
    const env = { REDIS_URL: redisUrl(), RIGFLOW_PREFIX: prefix, DEVICES_FILE: devicesFile };
    const [api] = await Promise.all([
      startApiProcess(env, apis),
      startWorkerProcess(prefix, devicesFile, {}, workers),
    ]);
    const submit = async (document: unknown) =>
      (await postJson<{ run_id: string }>(api.url, "/api/runs", { pipeline: document })).body.run_id;

    const paused = await submit(chainDoc("paused", move("a", "servo-1", 80), move("b", "servo-1", 10)));
    const held = await submit(
      chainDoc("held", { ...move("x", "servo-2", 500), on_failure: "hold" }, move("y", "servo-2", 20)),
    );
    const interrupted = await submit(
      chainDoc("interrupted", step("dispense", "servo-3", 150), move("z", "servo-3", 5)),
    );
    const waiting = await submit(askThenMove("waiting", "servo-1", 600_000));
    const expiring = await submit(askThenMove("expiring", "servo-2", 4000));
    await expect
      .poll(async () => (await getJson<RunView>(api.url, `/api/runs/${paused}`)).nodes.a?.status, {
        timeout: 10_000,
        interval: 10,
      })
      .toBe("running");
    expect((await postJson(api.url, `/api/runs/${paused}/pause`, {})).status).toBe(202);
    await expect
      .poll(
        async () => (await getJson<RunView>(api.url, `/api/runs/${interrupted}`)).nodes.dispense?.status,
        {
          timeout: 10_000,
          interval: 10,
        },
      )
      .toBe("running");
    expect((await postJson(api.url, `/api/runs/${interrupted}/pause`, { mode: "immediate" })).status).toBe(
      202,
    );

    expect(nodeStatuses(await untilStatus(api.url, paused, "paused"))).toEqual({
      a: "completed",
      b: "pending",
    });
    expect(nodeStatuses(await untilStatus(api.url, held, "held"))).toEqual({ x: "held", y: "pending" });
    expect(nodeStatuses(await untilStatus(api.url, interrupted, "paused"))).toEqual({
      dispense: "held",
      z: "pending",
    });
    const asked = await untilNodeStatus(api.url, waiting, "ask", "waiting");
    const expiringRun = await untilNodeStatus(api.url, expiring, "ask", "waiting");
    const deadline = expiringRun.nodes.ask?.approval?.timeout_at ?? "";
    expect(deadline).not.toBe("");
    const before = commands(readJournal(journal)).length;

    await Promise.all([...workers.splice(0), ...apis.splice(0)].map((child) => child.kill()));
    const [again] = await Promise.all([
      startApiProcess(env, apis),
      startWorkerProcess(prefix, devicesFile, {}, workers),
    ]);
    // The new worker has swept the active runs before it said it was ready.
    expect(nodeStatuses(await untilStatus(again.url, paused, "paused"))).toEqual({
      a: "completed",
      b: "pending",
    });
    expect(nodeStatuses(await untilStatus(again.url, held, "held"))).toEqual({ x: "held", y: "pending" });
    expect(nodeStatuses(await untilStatus(again.url, interrupted, "paused"))).toEqual({
      dispense: "held",
      z: "pending",
    });
    const stillWaiting = await untilNodeStatus(again.url, waiting, "ask", "waiting");
    expect(stillWaiting.status).toBe("running");
    expect(stillWaiting.nodes.ask?.approval).toEqual(asked.nodes.ask?.approval);
    // The short approval's deadline held across the restart: it failed then, not later, not never.
    const expired = await untilStatus(again.url, expiring, "failed");
    expect(expired.error?.code).toBe("APPROVAL_TIMEOUT");
    expect(Date.parse(expired.nodes.ask?.finished_at ?? "")).toBeGreaterThanOrEqual(Date.parse(deadline));
    expect(expired.nodes.go?.status).toBe("pending");
    expect(commands(readJournal(journal))).toHaveLength(before);

    expect(
      (await postJson(again.url, `/api/runs/${waiting}/nodes/ask/approve`, { outputs: { position: 33 } }))
        .status,
    ).toBe(202);
    expect((await postJson(again.url, `/api/runs/${paused}/resume`, {})).status).toBe(202);
    expect((await postJson(again.url, `/api/runs/${held}/nodes/x/recover`, { action: "skip" })).status).toBe(
      202,
    );
    // Resumed with its node held, the run holds; a person chooses to run the step again.
    expect((await postJson(again.url, `/api/runs/${interrupted}/resume`, {})).status).toBe(202);
    await untilStatus(again.url, interrupted, "held");
    expect(
      (await postJson(again.url, `/api/runs/${interrupted}/nodes/dispense/recover`, { action: "retry" }))
        .status,
    ).toBe(202);
    for (const runId of [paused, held, interrupted, waiting])
      await untilStatus(again.url, runId, "completed");

    const started = commands(readJournal(journal)).map(
      (command) => `${command.device} ${command.function} ${Object.values(command.params ?? {})[0] ?? ""}`,
    );
    expect(started.sort()).toEqual(
      [
        "servo-1 move 80",
        "servo-1 move 10",
        "servo-2 move 500",
        "servo-2 move 20",
        "servo-3 step 150",
        "servo-3 step 150", // run again by a person's choice, not by itself
        "servo-3 move 5",
        "servo-1 move 33", // where the person said, once they approved
      ].sort(),
    );
  });
});
