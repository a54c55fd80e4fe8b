import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import type { RunEvent } from "../../src/engine/index.js";
import { startRedisServer, type RedisServerHandle } from "../../src/infra/redis-server.js";
import { createTestApi, servo } from "../support/context.js";
import { commands, expectNoTwoHoldersDrove, readJournal } from "../support/journal.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { startWorkerProcess, writeDevicesFile, type WorkerProcess } from "../support/worker-process.js";
import { stopAll } from "./scenario.js";

// The faults real deployments see, mixed at random over many runs: Redis frozen (SIGSTOP), a worker
// frozen past its lease while another stands by, a worker killed (SIGKILL) and replaced, the
// workers' connections killed (CLIENT KILL), their link to Redis cut, slowed or silent (a TCP proxy).
// Seeded: the seed is printed, and CHAOS_SEED replays it. The devices journal every start, step
// and end across processes, so the invariants are checked by what the devices did. Every third
// run waits for an approval midway, which a person (a loop here) gives as soon as it is asked.

const seed = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
const runCount = 16;
const faultCount = 6;
const deviceIds = ["servo-1", "servo-2", "servo-3"];
const workers: WorkerProcess[] = [];
let server: RedisServerHandle | undefined;
let proxy: TcpProxy | undefined;
const closers: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  if (server) process.kill(server.pid, "SIGCONT");
  for (const worker of workers) if (worker.alive()) process.kill(worker.pid, "SIGCONT");
  await stopAll(workers);
  for (const close of closers.splice(0).reverse()) await close();
  await proxy?.close();
  await server?.stop();
});

function random(value: number): () => number {
  let state = value;
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

/**
 * Chains with a few edges that skip ahead (fan-outs and fan-ins); each node's params are unique.
 * Every third run's third node is an approval.
 */
function pipelines(rand: () => number) {
  return Array.from({ length: runCount }, (_, run) => {
    const count = 4 + Math.floor(rand() * 4);
    const nodes = Array.from({ length: count }, (_, i): Record<string, unknown> => {
      const key = run * 10 + i;
      const device = deviceIds[Math.floor(rand() * deviceIds.length)] as string;
      if (run % 3 === 1 && i === 2) return { id: `n${i}`, type: "approval", message: `run ${run}: go on?` };
      // A step (a relative move, like a dispense) is not idempotent; a move is.
      return i > 0 && rand() < 0.35
        ? { id: `n${i}`, device_id: device, function_id: "step", params: { delta: 1 + key / 1000 } }
        : { id: `n${i}`, device_id: device, function_id: "move", params: { position: 10 + key / 2 } };
    });
    const edges = nodes.slice(1).map((node, i) => ({ source: `n${i}`, target: node.id }));
    for (let i = 0; i + 2 < count; i += 3) edges.push({ source: `n${i}`, target: `n${i + 2}` });
    return { id: `chaos_${run}`, name: `chaos ${run}`, nodes, edges };
  });
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)); // a fault's length

describe("chaos: Redis and worker freezes, kills, killed connections, cut, slow and silent links, mixed at random", () => {
  it("ends every run, runs each node once per epoch, never repeats a step by itself, never lets two workers drive a device", async () => {
    console.log(`chaos-faults seed ${seed} (CHAOS_SEED=${seed} replays it)`);
    const rand = random(seed);
    const context = `seed ${seed}`;
    server = await startRedisServer();
    proxy = await startTcpProxy(server.port);
    const link = proxy;
    const journal = join(mkdtempSync(join(tmpdir(), "rigflow-chaos-faults-")), "journal.jsonl");
    writeFileSync(journal, "");
    const devices = deviceIds.map((id) => servo(id, { speed: 150, journal }));
    const api = createTestApi(devices, { redisUrl: server.url });
    closers.push(() => api.close());
    const { engine, prefix, redis } = api;
    const file = writeDevicesFile(devices);
    const startWorker = () => startWorkerProcess(prefix, file, { REDIS_URL: link.url }, workers);
    await startWorker();
    await startWorker(); // the standby

    const documents = pipelines(rand);
    // Commands the devices are to complete: every node but the approvals.
    const total = documents.reduce(
      (sum, document) => sum + document.nodes.filter((node) => node.type !== "approval").length,
      0,
    );
    const runIds = (await Promise.all(documents.map((document) => engine.submitRun({ document })))).map(
      (run) => run.runId,
    );
    // The person: approves each approval as soon as it waits, asking again after an error (a
    // decision sent twice is answered as the first).
    let approving = true;
    const approver = (async () => {
      while (approving) {
        const { runs } = await engine.listRuns({ status: "waiting", limit: 100 }).catch(() => ({ runs: [] }));
        for (const { runId } of runs) {
          const run = await engine.getRun(runId).catch(() => null);
          for (const node of run?.nodes.filter((n) => n.status === "waiting") ?? []) {
            await engine
              .decideApproval(runId, node.nodeId, { action: "approve", outputs: {} })
              .catch(() => undefined);
          }
        }
        await pause(100);
      }
    })();
    closers.push(async () => {
      approving = false;
      await approver;
    });
    const completedNodes = async () =>
      (await Promise.all(runIds.map((runId) => engine.getRun(runId))))
        .flatMap((run) => run.nodes)
        .filter((node) => node.status === "completed").length;

    const faults: string[] = [];
    const kinds = [
      "redis-freeze",
      "worker-freeze",
      "worker-kill",
      "client-kill",
      "link-cut",
      "link-delay",
      "link-silent",
    ];
    for (let f = 0; f < faultCount; f += 1) {
      const target = Math.floor(total * (0.08 + (0.7 * f) / faultCount));
      await vi.waitFor(async () => expect(await completedNodes()).toBeGreaterThanOrEqual(target), {
        timeout: 60_000,
        interval: 50,
      });
      const kind = kinds[Math.floor(rand() * kinds.length)] as string;
      const alive = workers.filter((worker) => worker.alive());
      const victim = alive[Math.floor(rand() * alive.length)] as WorkerProcess;
      faults.push(`${kind} at ${target}/${total} nodes`);
      if (kind === "redis-freeze") {
        process.kill(server.pid, "SIGSTOP");
        await pause(2000 + rand() * 3000);
        process.kill(server.pid, "SIGCONT");
      } else if (kind === "worker-freeze") {
        process.kill(victim.pid, "SIGSTOP");
        await pause(5500 + rand() * 1500); // past the lease: the other worker takes its devices
        process.kill(victim.pid, "SIGCONT");
      } else if (kind === "worker-kill") {
        await victim.kill();
        await startWorker();
      } else if (kind === "client-kill") {
        for (const addr of link.upstreamAddresses()) await redis.client("KILL", "ADDR", addr).catch(() => 0);
      } else if (kind === "link-cut") {
        link.cut();
        await pause(300 + rand() * 1200);
        link.restore();
      } else if (kind === "link-silent") {
        // Packets dropped, connections still open: past 3.5 s the workers hold their servos.
        link.blackhole(true);
        await pause(2000 + rand() * 3000);
        link.blackhole(false);
      } else {
        link.delay(30 + Math.floor(rand() * 50));
        await pause(2000);
        link.delay(0);
      }
    }

    console.log(`chaos-faults seed ${seed}: ${faults.join("; ")}`);
    // Every run ends; one that failed did so only because a step was cut short, for a person.
    const ended = await Promise.all(runIds.map((runId) => engine.waitForRun(runId, 90_000)));
    const failed = ended.filter((run) => run.status !== "completed");
    for (const run of failed) {
      expect([run.status, run.error?.code], `${context}: ${faults.join(", ")}`).toEqual([
        "failed",
        "NODE_INTERRUPTED",
      ]);
      const node = run.nodes.find((n) => n.nodeId === run.error?.nodeId);
      expect(node?.functionId, `${context}: only a non-idempotent node is left interrupted`).toBe("step");
    }
    const resumedAt = Date.now();
    for (const run of failed) await engine.resumeRun(run.runId);
    const finals = await Promise.all(runIds.map((runId) => engine.waitForRun(runId, 60_000)));
    expect(
      finals.map((run) => run.status),
      context,
    ).toEqual(finals.map(() => "completed"));
    approving = false;
    await approver;
    // Each approval was completed by the person, once per run (a resumed run keeps it completed).
    const approvalNodes = finals.flatMap((run) =>
      run.nodes.filter((node) => node.functionId === "approval").map((node) => [run.runId, node]),
    );
    expect(approvalNodes.length, context).toBe(runIds.filter((_, run) => run % 3 === 1).length);
    for (const [, node] of approvalNodes) {
      expect(node, context).toMatchObject({ status: "completed", completedBy: "operator" });
    }

    // Nothing acknowledged was lost: every accepted run is listed.
    const { runs: listed } = await engine.listRuns({ limit: 100 });
    expect(listed.map((run) => run.runId).sort(), context).toEqual([...runIds].sort());

    // Each node ends once per epoch, and a completed node never runs in a later one.
    for (const runId of runIds) {
      const epochs: RunEvent[][] = [[]];
      for (const event of await engine.runEvents(runId)) {
        if (event.type === "pipeline_resumed") epochs.push([]);
        else epochs.at(-1)?.push(event);
      }
      for (const events of epochs) {
        const ends = events.filter((e) => e.type === "node_completed" || e.type === "node_failed");
        const nodeIds = ends.map((e) => ("node_id" in e ? e.node_id : ""));
        expect(nodeIds.length, `${context}: ${runId} ends ${nodeIds.join(",")}`).toBe(new Set(nodeIds).size);
      }
      const completions = epochs.flat().filter((e) => e.type === "node_completed").length;
      expect(completions, `${context}: ${runId}`).toBe(finals[runIds.indexOf(runId)]?.nodes.length);
    }

    // The devices' own account.
    const entries = readJournal(journal);
    const ran = commands(entries);
    const nodeOf = (fn: string, params: unknown) => `${fn}:${JSON.stringify(params)}`;
    const completedOnDevice = new Set(
      ran.filter((command) => command.end?.outcome === "completed").map((c) => nodeOf(c.function, c.params)),
    );
    expect(completedOnDevice.size, context).toBe(total);
    const stepsStartedTwice = [
      ...new Set(ran.filter((c) => c.function === "step").map((c) => nodeOf(c.function, c.params))),
    ].filter(
      (key) => ran.filter((c) => nodeOf(c.function, c.params) === key && c.start < resumedAt).length > 1,
    );
    expect(stepsStartedTwice, `${context}: a step started twice before its resume`).toEqual([]);
    expectNoTwoHoldersDrove(entries, `${context}: ${faults.join(", ")}`);
  }, 240_000);
});
