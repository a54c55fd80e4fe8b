/**
 * Crash recovery (the figure): from a `kill -9` of the worker process running a command to
 * the next command on that device under another worker. Real worker processes, so that the kill
 * is a real crash; a mock servo whose journal file tells, across processes, when each command
 * started. In between lie the dead worker's device lease lapsing (the other worker may only then
 * open the device) and its job lock lapsing (BullMQ's stall check then puts the job back), both
 * set in src/worker (device-leases.ts, job-locks.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { drivers } from "../src/drivers/registry.js";
import type { DeviceConfig } from "../src/drivers/types.js";
import { connectRedis, createCatalog, defaultLimits, Engine } from "../src/engine/index.js";
import { leaseRenewMs } from "../src/worker/device-leases.js";
import { Journal, writerPid, type JournalStart } from "./journal.js";
import { withTimeout } from "./stats.js";
import { WorkerProcesses, writeDevicesFile, type WorkerProcess } from "./worker-process.js";

export interface RecoveryResult {
  name: string;
  /** What was run and what one sample is. */
  detail: string;
  /** Per repetition: s from the kill to the interrupted command starting again under the new worker. */
  recoverySeconds: number[];
  /** Per repetition: s from the kill to the new worker opening the device (it holds the lease). */
  openedSeconds: number[];
}

const deviceId = "servo-recovery";
/** 150 units at 50 units/s: a 3 s move, still running when it is killed. Idempotent, so run again. */
const speed = 50;
const move = { position: 150 };
/** Beyond this the bench fails (a hang); a slow recovery within it is a missed target, not a failure. */
const recoveryTimeoutMs = 60_000;
const runTimeoutMs = 60_000;

interface Case {
  name: string;
  detail: string;
  /** Whether the second worker is already running (refused the device) when the first is killed. */
  standby: boolean;
}

/** What every case does; the cases differ in where the second worker comes from. */
const common = "kill -9 as soon as an idempotent 3 s move has started on the device";
const cases: Case[] = [
  {
    name: "replacement started after the kill",
    detail: `${common}; a new worker process is spawned right after it, boots, then waits for the lease`,
    standby: false,
  },
  {
    name: "standby already running",
    detail: `${common}; a second worker process was refused the device before and asks for it every second`,
    standby: true,
  },
];

export async function measureRecovery(
  redisUrl: string,
  prefix: string,
  repetitions: number,
): Promise<RecoveryResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "rigflow-bench-recovery-"));
  const journalPath = join(dir, "journal.jsonl");
  writeFileSync(journalPath, "");
  const device: DeviceConfig = {
    id: deviceId,
    driver: "mock-servo",
    capacity: 1,
    options: { speed, journal: journalPath },
  };
  const journal = new Journal(journalPath);
  const workers = new WorkerProcesses(redisUrl, prefix, writeDevicesFile(dir, [device]));
  const redis = connectRedis(redisUrl, { blocking: false, name: "bench-recovery" });
  const engine = new Engine(redis, prefix, createCatalog([device], drivers.values()), defaultLimits);
  let sequence = 0;

  /** One crash: a worker holding the device is killed mid-move; another runs the move again. */
  async function once(standby: boolean): Promise<{ recovery: number; opened: number }> {
    sequence += 1;
    const label = `r${sequence}`;
    const holder = expectHosts(await workers.start(`${label}-holder`), true);
    const waiting = standby ? expectHosts(await workers.start(`${label}-standby`), false) : undefined;
    // Workers renew (and a standby asks for) leases every second from the moment they start, and
    // the run would otherwise be submitted just after they did: a random pause puts the kill at a
    // random point of those cycles, as a real crash would be, rather than always at the same one.
    await sleep(Math.random() * leaseRenewMs);
    const before = journal.starts().filter((entry) => entry.device === deviceId).length;
    const { runId } = await engine.submitRun({ document: moveDocument(`recovery-${label}`) });
    expectWriter(await journal.start(before, deviceId, 30_000, `${label}: the move`), holder);
    // At once: the job's lock was just taken, so it has its full 4 s left (the slow case for it).
    const killedAt = await holder.kill();
    const successor = waiting ?? (await workers.start(`${label}-replacement`));
    const next = await journal.start(before + 1, deviceId, recoveryTimeoutMs, `${label}: the move again`);
    expectWriter(next, successor);
    const state = await engine.waitForRun(runId, runTimeoutMs);
    if (state.status !== "completed") {
      throw new Error(
        `recovery ${label}: run ${runId} ended ${state.status}: ${JSON.stringify(state.error)}`,
      );
    }
    const opened = successor.logged("device open")[0]?.time;
    if (opened === undefined)
      throw new Error(`recovery ${label}: ${successor.workerId} never opened the device`);
    // A graceful stop releases the lease at once, so the next repetition's holder gets the device.
    await successor.stop();
    return { recovery: (next.at - killedAt) / 1000, opened: (opened - killedAt) / 1000 };
  }

  try {
    const results: RecoveryResult[] = [];
    for (const { name, detail, standby } of cases) {
      process.stderr.write(`recovery: ${name} x ${repetitions}\n`);
      const samples = [];
      for (let i = 0; i < repetitions; i += 1) samples.push(await once(standby));
      results.push({
        name,
        detail,
        recoverySeconds: samples.map((sample) => sample.recovery),
        openedSeconds: samples.map((sample) => sample.opened),
      });
    }
    return results;
  } finally {
    await workers.killAll();
    await withTimeout(engine.close(), 15_000, "recovery: closing");
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  }
}

function moveDocument(id: string): Record<string, unknown> {
  return {
    id,
    name: id,
    nodes: [{ id: "move", device_id: deviceId, function_id: "move", params: move }],
    edges: [],
  };
}

/** Each repetition needs the first worker to host the device and the standby to be refused it. */
function expectHosts(worker: WorkerProcess, hosts: boolean): WorkerProcess {
  if (worker.hosts.includes(deviceId) !== hosts) {
    throw new Error(
      `recovery: worker ${worker.workerId} ${hosts ? "does not host" : "hosts"} ${deviceId} ` +
        `(hosts ${JSON.stringify(worker.hosts)}, refused ${JSON.stringify(worker.refused)})`,
    );
  }
  return worker;
}

function expectWriter(entry: JournalStart, worker: WorkerProcess): void {
  if (writerPid(entry) !== worker.pid || entry.function !== "move") {
    throw new Error(
      `recovery: expected ${worker.workerId} (pid ${worker.pid}) to start the move; the journal has ${JSON.stringify(entry)}`,
    );
  }
}
