// What the resilience tests share: a batch of runs that keeps several devices busy for a few
// seconds, a look at how far they have got, and the check that each ended as if nothing happened.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Redis } from "ioredis";
import { expect, vi } from "vitest";
import type { DeviceConfig } from "../../src/drivers/types.js";
import { servo } from "../support/context.js";
import { getJson, postJson, type EventView, type RunView } from "../support/http.js";
import { doc, move } from "../support/pipelines.js";
import type { WorkerProcess } from "../support/worker-process.js";
import type { ApiProcess } from "../support/api-process.js";

const deviceCount = 4;

/**
 * The rig: four mock servos, slow enough that a move takes 0.1-0.4 s and a batch of runs several
 * seconds, each keeping a journal of the commands it runs (in a file of its own per test), so that
 * how often each node reached its device is counted by the devices, not by the engine under test.
 */
export function rig(): { devices: DeviceConfig[]; journal: string } {
  const journal = join(mkdtempSync(join(tmpdir(), "rigflow-journal-")), "journal.jsonl");
  writeFileSync(journal, "");
  const devices = Array.from({ length: deviceCount }, (_, i) =>
    servo(`servo-${i + 1}`, { speed: 400, journal }),
  );
  return { devices, journal };
}

const nodesPerRun = 6;
const edges = [
  { source: "a", target: "b", source_output: "position", target_input: "position" },
  { source: "a", target: "c" },
  { source: "b", target: "d" },
  { source: "c", target: "d" },
  { source: "c", target: "f" },
  { source: "d", target: "e", source_output: "position", target_input: "position" },
];

/**
 * Run `i`'s pipeline: a diamond with two tails, spread over the devices, data flowing a → b and
 * d → e; `f` is a relative move (`step`), which is not idempotent: never repeated by itself.
 */
export function pipeline(i: number) {
  const on = (k: number) => `servo-${((i + k) % deviceCount) + 1}`;
  return doc(
    `resilience_${i}`,
    [
      move("a", on(0), 20 + i),
      { id: "b", device_id: on(1), function_id: "move" },
      move("c", on(2), 160 - i),
      move("d", on(3), 90 + i),
      { id: "e", device_id: on(0), function_id: "move" },
      { id: "f", device_id: on(2), function_id: "step", params: { delta: stepDelta(i) } },
    ],
    edges,
  );
}

/** Positive, so that no step leaves the servo's range from where the others leave it. */
const stepDelta = (i: number) => 1 + i / 10;

/** The outputs run `i` must end with (where `f` ends depends on what ran before it on its servo). */
export function expectedOutputs(i: number): Record<string, unknown> {
  const at = (position: number) => ({ complete: true, position });
  const f = { complete: true, position: expect.any(Number) as number };
  return { a: at(20 + i), b: at(20 + i), c: at(160 - i), d: at(90 + i), e: at(90 + i), f };
}

/**
 * What the devices' journal says: every node of runs 0..count-1 started once on its device (a
 * node is known by its device, function and params, which differ between nodes and runs) and
 * ended completed, and nothing else ran.
 */
export function expectDevicesRanEachNodeOnce(journal: string, count: number): void {
  type Entry = { device: string; id: string; event: string; function?: string; params?: unknown };
  const entries = readFileSync(journal, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Entry);
  const key = (device: string, fn: string, params: unknown) => `${device} ${fn} ${JSON.stringify(params)}`;
  const started = entries.filter((entry) => entry.event === "start");
  const expected = Array.from({ length: count }, (_, i) =>
    pipeline(i).nodes.map((node) => {
      const params = node.params ?? { position: node.id === "b" ? 20 + i : 90 + i };
      return key(node.device_id, node.function_id, params);
    }),
  ).flat();
  expect(started.map((entry) => key(entry.device, entry.function ?? "", entry.params)).sort()).toEqual(
    expected.sort(),
  );
  const ends = entries.filter((entry) => entry.event === "end") as (Entry & { outcome: string })[];
  expect(ends.map((entry) => entry.outcome)).toEqual(started.map(() => "completed"));
}

/** Submits runs 0..count-1 through the API; returns their run ids, in order. */
export async function submitRuns(base: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const { status, body } = await postJson<{ run_id: string }>(base, "/api/runs", { pipeline: pipeline(i) });
    expect(status).toBe(202);
    ids.push(body.run_id);
  }
  return ids;
}

/** How many nodes of these runs have completed, as the API says. */
export async function completedNodes(base: string, runIds: readonly string[]): Promise<number> {
  const runs = await Promise.all(runIds.map((id) => getJson<RunView>(base, `/api/runs/${id}`)));
  return runs.flatMap((run) => Object.values(run.nodes)).filter((node) => node.status === "completed").length;
}

/**
 * Waits until at least `atLeast` nodes of the runs have completed, and checks that some are still
 * to run (else whatever the test does next would not happen mid-way).
 */
export async function waitUntilMidway(base: string, runIds: readonly string[], atLeast: number) {
  const done = await vi.waitFor(
    async () => {
      const count = await completedNodes(base, runIds);
      expect(count).toBeGreaterThanOrEqual(atLeast);
      return count;
    },
    { timeout: 15_000, interval: 50 },
  );
  expect(done, "every node had completed already").toBeLessThan(runIds.length * nodesPerRun);
  return done;
}

/** Waits (polling the API) until every run has ended, and returns them. */
export function waitUntilEnded(base: string, runIds: readonly string[], timeout = 20_000) {
  return vi.waitFor(
    async () => {
      const runs = await Promise.all(runIds.map((id) => getJson<RunView>(base, `/api/runs/${id}`)));
      const running = runs.filter((run) => !["completed", "failed", "cancelled"].includes(run.status));
      expect(running.map((run) => `${run.run_id}: ${run.status}`)).toEqual([]);
      return runs;
    },
    { timeout, interval: 100 },
  );
}

/**
 * Each run (run i of submitRuns) completed with the right outputs; each node ran once: one attempt,
 * one node_executing, one node_completed, and no retry or failure on the way.
 */
export async function expectEachNodeRanOnce(base: string, runIds: readonly string[]): Promise<void> {
  for (const [i, runId] of runIds.entries()) {
    const run = await getJson<RunView>(base, `/api/runs/${runId}`);
    expect(run.status, runId).toBe("completed");
    const outputs = Object.fromEntries(Object.entries(run.nodes).map(([id, node]) => [id, node.outputs]));
    expect(outputs, runId).toEqual(expectedOutputs(i));
    const { events } = await getJson<{ events: EventView[] }>(base, `/api/runs/${runId}/events`);
    const count = (type: string, nodeId: string) =>
      events.filter((event) => event.type === type && event.node_id === nodeId).length;
    for (const [nodeId, node] of Object.entries(run.nodes)) {
      const seen = {
        status: node.status,
        attempts: node.attempts,
        executing: count("node_executing", nodeId),
        completed: count("node_completed", nodeId),
      };
      expect(seen, `${runId}/${nodeId}`).toEqual({
        status: "completed",
        attempts: 1,
        executing: 1,
        completed: 1,
      });
    }
    const kinds = new Set(events.map((event) => event.type));
    expect(
      [...kinds].filter((type) => ["node_retrying", "node_failed", "pipeline_error"].includes(type)),
    ).toEqual([]);
    expect(events.filter((event) => event.type === "pipeline_completed")).toHaveLength(1);
  }
}

/** The id a worker process gave itself, as its start-up line logs it. */
export const workerIdOf = (worker: WorkerProcess): string =>
  /"workerId":"([^"]+)","devices"/.exec(worker.log())?.[1] ?? "";

/** Waits until `worker` holds the device's lease, as the device's record in Redis says. */
export async function waitUntilHolder(
  redis: Redis,
  prefix: string,
  deviceId: string,
  worker: WorkerProcess,
): Promise<void> {
  await vi.waitFor(
    async () =>
      expect(await redis.hget(`${prefix}:rf:device:${deviceId}`, "worker_id")).toBe(workerIdOf(worker)),
    { timeout: 15_000, interval: 50 },
  );
}

type Stoppable = WorkerProcess | ApiProcess;

/** Stops each process (SIGTERM), or kills it (SIGKILL) if it has not exited within 10 s. */
export async function stopAll(processes: Stoppable[]): Promise<void> {
  await Promise.all(
    processes.splice(0).map(async (child) => {
      let timer: NodeJS.Timeout | undefined;
      const stopped = child.stop().then(() => true);
      const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 10_000)));
      if (!(await Promise.race([stopped, late]))) await child.kill();
      clearTimeout(timer);
    }),
  );
}
