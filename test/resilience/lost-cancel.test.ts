import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { DeviceConfig } from "../../src/drivers/types.js";
import { redisKeys, type RunState } from "../../src/engine/index.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { createTestApi, redisUrl, servo, startTestWorker } from "../support/context.js";
import { readJournal, type JournalEntry } from "../support/journal.js";
import { doc, move } from "../support/pipelines.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { startWorkerProcess, writeDevicesFile, type WorkerProcess } from "../support/worker-process.js";
import { expectDevicesRanEachNodeOnce, expectedOutputs, pipeline, rig, stopAll } from "./scenario.js";

// The worker process talks to Redis through a TCP proxy the test can cut, delay or reset; the API
// side (in this process) and, where a test needs one, an orchestrating worker talk to Redis
// directly. The mock servos journal every command to a file, so what the devices did is counted by
// the devices. Cuts are kept well under the worker's lease margin (~3.5 s), so the worker never
// gives its devices up: whatever stops a command here is the halt reaching it.

const workers: WorkerProcess[] = [];
const proxies: TcpProxy[] = [];
const apis: ReturnType<typeof createTestApi>[] = [];
const orchestrators: WorkerHandle[] = [];

afterEach(async () => {
  // The link back first, so that the worker can shut down cleanly rather than be killed.
  for (const proxy of proxies) {
    proxy.restore();
    proxy.delay(0);
    proxy.blackhole(false);
  }
  await stopAll(workers);
  await Promise.all(orchestrators.splice(0).map((worker) => worker.close()));
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  await Promise.all(apis.splice(0).map((api) => api.close()));
});

const newJournal = () => {
  const journal = join(mkdtempSync(join(tmpdir(), "rigflow-lost-cancel-")), "journal.jsonl");
  writeFileSync(journal, "");
  return journal;
};

/** An API on the shared Redis, and a worker process hosting `devices` behind a proxy of its own. */
async function setUp(devices: DeviceConfig[]) {
  const api = createTestApi(devices);
  apis.push(api);
  const proxy = await startTcpProxy(Number(new URL(redisUrl()).port));
  proxies.push(proxy);
  const worker = await startWorkerProcess(
    api.prefix,
    writeDevicesFile(devices),
    { REDIS_URL: proxy.url },
    workers,
  );
  const keys = redisKeys(api.prefix);
  /** How many connections listen for cancels, as Redis sees it. */
  const cancelListeners = async () => {
    const reply = (await api.redis.pubsub("NUMSUB", keys.cancelChannel)) as [string, number];
    return Number(reply[1]);
  };
  const halt = (runId: string) => api.redis.hget(keys.run(runId), "halt");
  return { api, proxy, worker, cancelListeners, halt };
}

const fast = { timeout: 10_000, interval: 10 };

/** Waits until the run's one node is running, on its device as well as in the ledger; returns its command. */
async function commandRunning(api: ReturnType<typeof createTestApi>, journal: string, runId: string) {
  return vi.waitFor(async () => {
    const start = readJournal(journal).find((entry) => entry.event === "start");
    expect(start).toBeDefined();
    expect((await api.engine.getRun(runId)).nodes[0]?.status).toBe("running");
    return start as JournalEntry;
  }, fast);
}

/**
 * What the device did with the command: it ended, not completed, within a second of the link
 * coming back (not before: nothing else stopped it), and took no step after its end.
 */
function expectStoppedAfter(journal: string, commandId: string, restoredAt: number) {
  const entries = readJournal(journal);
  const mine = entries.filter((entry) => entry.id === commandId);
  const end = mine.find((entry) => entry.event === "end");
  expect(end?.outcome).toBe("failed");
  const endAt = end?.at ?? Infinity;
  expect(endAt).toBeGreaterThanOrEqual(restoredAt);
  expect(endAt - restoredAt, "ms from the link's return to the stop").toBeLessThan(1000);
  expect(mine.slice(mine.indexOf(end as JournalEntry) + 1)).toEqual([]);
  expect(entries.filter((entry) => entry.at > endAt)).toEqual([]);
  expect(entries.filter((entry) => entry.event === "start")).toHaveLength(1);
}

const logLines = (worker: WorkerProcess) =>
  worker
    .log()
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

/** The worker's log lines with this message. */
const logged = (worker: WorkerProcess, msg: string) => logLines(worker).filter((line) => line.msg === msg);

function expectStoppedByHaltWatch(worker: WorkerProcess, runId: string, halt: string) {
  expect(logged(worker, "stopped running commands of a halted run")).toEqual([
    expect.objectContaining({ runId, stopped: 1, halt }),
  ]);
  // The pub/sub path's message: had it logged this, the message was not lost and nothing was tested.
  expect(logged(worker, "cancelled running commands")).toEqual([]);
}

/** Every run completed with its outputs; each node began, ran and completed once, by the ledger's events. */
async function expectEachNodeOnce(api: ReturnType<typeof createTestApi>, runIds: string[]) {
  const runs = await Promise.all(runIds.map((runId) => api.engine.waitForRun(runId, 15_000)));
  for (const [i, run] of runs.entries()) {
    expect(run.status, run.runId).toBe("completed");
    expect(Object.fromEntries(run.nodes.map((node) => [node.nodeId, node.outputs]))).toEqual(
      expectedOutputs(i),
    );
    const events = await api.engine.runEvents(run.runId);
    for (const node of run.nodes) {
      const count = (type: string) =>
        events.filter((event) => event.type === type && "node_id" in event && event.node_id === node.nodeId)
          .length;
      expect(
        { attempts: node.attempts, executing: count("node_executing"), completed: count("node_completed") },
        `${run.runId}/${node.nodeId}`,
      ).toEqual({ attempts: 1, executing: 1, completed: 1 });
    }
    expect(events.filter((event) => ["node_retrying", "node_failed"].includes(event.type))).toEqual([]);
    expect(events.filter((event) => event.type === "pipeline_completed")).toHaveLength(1);
  }
}

async function completedNodes(api: ReturnType<typeof createTestApi>, runIds: string[]) {
  const runs: RunState[] = await Promise.all(runIds.map((runId) => api.engine.getRun(runId)));
  return runs.flatMap((run) => run.nodes).filter((node) => node.status === "completed").length;
}

describe("a halt whose pub/sub message the worker never gets", () => {
  it("a cancel whose pub/sub message is lost still stops the running command within a second", async () => {
    const journal = newJournal();
    // speed 20: a move to 150 takes 7.5 s.
    const { api, proxy, worker, cancelListeners } = await setUp([servo("servo-1", { speed: 20, journal })]);
    const { runId } = await api.engine.submitRun({
      document: doc("long_move", [move("long", "servo-1", 150)]),
    });
    const command = await commandRunning(api, journal, runId);

    const listening = await cancelListeners();
    proxy.cut();
    // Redis has dropped the worker's subscriber: what is published now reaches no one.
    await vi.waitFor(async () => expect(await cancelListeners()).toBe(listening - 1), fast);
    await api.engine.cancelRun(runId);
    // The worker has tried to come back since, and was turned away.
    const refused = proxy.refused();
    await vi.waitFor(() => expect(proxy.refused()).toBeGreaterThan(refused), fast);
    const restoredAt = Date.now();
    proxy.restore();

    const run = await api.engine.waitForRun(runId, 5000);
    expect(run.status).toBe("cancelled");
    expect(run.nodes[0]).toMatchObject({ status: "cancelled", error: { code: "CANCELLED" } });
    expectStoppedAfter(journal, command.id, restoredAt);
    expectStoppedByHaltWatch(worker, runId, "cancelled");
  });

  it("a run timeout that fires while the worker's link is cut still stops the running command within a second", async () => {
    const journal = newJournal();
    const devices = [servo("servo-1", { speed: 20, journal })];
    const { api, proxy, worker, cancelListeners, halt } = await setUp(devices);
    // The timeout job has to come up while the worker process is cut off: a worker with no devices,
    // on a direct link, orchestrates too.
    orchestrators.push(await startTestWorker(api.prefix, []));
    const { runId } = await api.engine.submitRun({
      document: { ...doc("timed_move", [move("long", "servo-1", 150)]), timeout_ms: 1000 },
    });
    const command = await commandRunning(api, journal, runId);

    const listening = await cancelListeners();
    proxy.cut();
    await vi.waitFor(async () => expect(await cancelListeners()).toBe(listening - 1), fast);
    expect((await halt(runId)) ?? "", "the run timed out before its worker was cut off").toBe("");
    // The timeout fires meanwhile: its message goes to the orchestrator only.
    await vi.waitFor(async () => expect(await halt(runId)).toBe("timeout"), fast);
    const restoredAt = Date.now();
    proxy.restore();

    const run = await api.engine.waitForRun(runId, 5000);
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("RUN_TIMEOUT");
    expect(run.nodes[0]).toMatchObject({ status: "failed", error: { code: "RUN_TIMEOUT" } });
    expectStoppedAfter(journal, command.id, restoredAt);
    expectStoppedByHaltWatch(worker, runId, "timeout");
  });
});

describe("a worker's Redis link that misbehaves mid-run", () => {
  // A kill that lands between BullMQ's moveToFinished (which also hands the worker its next job)
  // and its reply makes ioredis send it again: the second run answers "Missing lock" (a warning in
  // the log), and the next job, active under a lock the worker does not know it holds, waits for the
  // stall checker (~5 s). Slower, not wrong: the job had not begun, so it runs once all the same.
  it("CLIENT KILL of the worker's connections mid-run changes nothing", async () => {
    const { devices, journal } = rig();
    const { api, proxy, worker } = await setUp(devices);
    const count = 6;
    const runIds: string[] = [];
    for (let i = 0; i < count; i += 1)
      runIds.push((await api.engine.submitRun({ document: pipeline(i) })).runId);

    const names = new Set<string>();
    for (const atLeast of [4, 12, 20]) {
      await vi.waitFor(
        async () => expect(await completedNodes(api, runIds)).toBeGreaterThanOrEqual(atLeast),
        {
          timeout: 15_000,
          interval: 20,
        },
      );
      expect(await completedNodes(api, runIds), "every node had completed already").toBeLessThan(count * 6);
      // Every connection of the worker process, and no other, comes through the proxy: its
      // connections are those whose address, as Redis sees it, is one of the proxy's own.
      const victims = await vi.waitFor(async () => {
        const ours = proxy.upstreamAddresses();
        const clients = parseClientList(String(await api.redis.call("CLIENT", "LIST")));
        const found = clients.filter((client) => ours.includes(client.addr ?? ""));
        expect(found.length).toBeGreaterThan(0);
        expect(found.length).toBe(ours.length);
        return found;
      }, fast);
      for (const client of victims) {
        names.add(client.name ?? "");
        await api.redis.call("CLIENT", "KILL", "ID", client.id ?? "");
      }
      // Back before the next kill: as many connections as before.
      await vi.waitFor(() => expect(proxy.connections()).toBeGreaterThanOrEqual(victims.length), fast);
    }
    // The worker names its own connections (commands, subscriber); BullMQ names each queue's
    // ("<prefix>:<base64 of the queue's name>"): all were killed.
    expect([...names].filter((name) => name.startsWith("rigflow-worker-")).length).toBeGreaterThan(0);
    expect([...names].filter((name) => name.startsWith(`${api.prefix}:`)).length).toBeGreaterThan(0);
    expect(
      [...names].filter((name) => !/^rigflow-worker-/.test(name) && !name.startsWith(`${api.prefix}:`)),
    ).toEqual([]);

    await expectEachNodeOnce(api, runIds);
    expectDevicesRanEachNodeOnce(journal, count);
    expect(worker.alive()).toBe(true);
    // Nor did the worker give a device up on the way (a lost lease is logged as an error).
    expect(logLines(worker).filter((line) => Number(line.level) >= 50)).toEqual([]);
  });

  it("a delayed link (100 ms each way) changes nothing", async () => {
    const { devices, journal } = rig();
    const { api, proxy, worker } = await setUp(devices);
    proxy.delay(100);
    const count = 3;
    const runIds: string[] = [];
    for (let i = 0; i < count; i += 1)
      runIds.push((await api.engine.submitRun({ document: pipeline(i) })).runId);

    await expectEachNodeOnce(api, runIds);
    expectDevicesRanEachNodeOnce(journal, count);
    expect(worker.alive()).toBe(true);
    // Nor did the worker give a device up on the way (a lost lease is logged as an error).
    expect(logLines(worker).filter((line) => Number(line.level) >= 50)).toEqual([]);
  });
});

/** CLIENT LIST's lines as records: "id=7 addr=127.0.0.1:5000 ... name=x ...". */
function parseClientList(text: string): Record<string, string>[] {
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) =>
      Object.fromEntries(
        line
          .trim()
          .split(" ")
          .map((field) => [field.slice(0, field.indexOf("=")), field.slice(field.indexOf("=") + 1)]),
      ),
    );
}
