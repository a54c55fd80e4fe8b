/**
 * What `appendfsync always` costs against `everysec`: the same Rigflow workloads on two
 * redis-servers with AOF on, their data dirs side by side on one disk, timed alternately so that
 * the machine's noise falls on both modes alike.
 */
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { spawnSync } from "node:child_process";
import { startRedisServer, type AppendFsync, type RedisServerHandle } from "../src/infra/redis-server.js";
import { startRigflow, type RigflowHarness } from "./rigflow.js";
import { withTimeout } from "./stats.js";
import type { Workload } from "./workloads.js";

export interface FsyncOptions {
  /** Where the data dirs go: on the disk to measure (a tmpfs would make fsync free). */
  dir: string;
  deviceIds: readonly string[];
  /** Timed one at a time, submit -> completed. */
  latency: Workload;
  /** Timed `concurrentRuns` at once, first submit -> last completion. */
  throughput: Workload;
  concurrentRuns: number;
  warmups: number;
  repetitions: number;
  throughputRepetitions: number;
  /** fdatasync calls timed on the same disk, to read the figures against. */
  fdatasyncSamples: number;
}

export interface Disk {
  source: string;
  fstype: string;
  mount: string;
}

export interface FsyncModeResult {
  mode: AppendFsync;
  latencyMs: number[];
  throughputMs: number[];
}

export interface FsyncResult {
  options: FsyncOptions;
  disk: Disk;
  fdatasyncMs: number[];
  modes: FsyncModeResult[];
}

const modes: readonly AppendFsync[] = ["everysec", "always"];

export async function measureFsyncCost(options: FsyncOptions): Promise<FsyncResult> {
  mkdirSync(options.dir, { recursive: true });
  const disk = diskOf(options.dir);
  const fdatasyncMs = timeFdatasync(options.dir, options.fdatasyncSamples);
  const dataDirs: string[] = [];
  const servers: RedisServerHandle[] = [];
  const harnesses: RigflowHarness[] = [];
  try {
    for (const mode of modes) {
      const dataDir = mkdtempSync(join(options.dir, `fsync-${mode}-`));
      dataDirs.push(dataDir);
      const redis = await startRedisServer({ dataDir, appendfsync: mode });
      servers.push(redis);
      harnesses.push(await startRigflow(redis.url, `bench-fsync-${mode}`, options.deviceIds));
    }
    const { latency, throughput, concurrentRuns, warmups } = options;
    process.stderr.write(
      `fsync: ${latency.name} x ${options.repetitions} (+${warmups} warm-up) per mode, alternating\n`,
    );
    const latencyMs = await alternate(harnesses, warmups, options.repetitions, (rigflow) =>
      rigflow.timeRun(latency),
    );
    process.stderr.write(
      `fsync: ${concurrentRuns} concurrent runs of ${throughput.name} x ${options.throughputRepetitions} per mode\n`,
    );
    const throughputMs = await alternate(harnesses, warmups, options.throughputRepetitions, (rigflow) =>
      rigflow.timeConcurrentRuns(throughput, concurrentRuns),
    );
    return {
      options,
      disk,
      fdatasyncMs,
      modes: modes.map((mode, i) => ({
        mode,
        latencyMs: latencyMs[i] ?? [],
        throughputMs: throughputMs[i] ?? [],
      })),
    };
  } finally {
    try {
      for (const rigflow of harnesses) await withTimeout(rigflow.close(), 15_000, "fsync: closing Rigflow");
    } finally {
      for (const redis of servers) await redis.stop();
      for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
    }
  }
}

/**
 * Untimed warm-ups on each, then `repetitions` rounds of one timed sample on each, the order
 * swapped every round so that neither mode always runs on the heels of the other.
 */
async function alternate(
  harnesses: readonly RigflowHarness[],
  warmups: number,
  repetitions: number,
  time: (rigflow: RigflowHarness) => Promise<number>,
): Promise<number[][]> {
  for (const rigflow of harnesses) for (let i = 0; i < warmups; i += 1) await time(rigflow);
  const samples = harnesses.map((): number[] => []);
  const indexes = harnesses.map((_, i) => i);
  for (let round = 0; round < repetitions; round += 1) {
    for (const i of round % 2 === 0 ? indexes : [...indexes].reverse()) {
      samples[i]?.push(await time(harnesses[i] as RigflowHarness));
    }
  }
  return samples;
}

/** The filesystem the data dirs are on, as `df` names it. */
function diskOf(dir: string): Disk {
  const df = spawnSync("df", ["--output=source,fstype,target", dir], { encoding: "utf8" });
  const [source = "?", fstype = "?", mount = "?"] = (df.stdout.split("\n")[1] ?? "").trim().split(/\s+/);
  return { source, fstype, mount };
}

/** ms per small append + fdatasync (what Redis does per write with `always`) in `dir`. */
function timeFdatasync(dir: string, samples: number): number[] {
  const file = join(dir, `fdatasync-probe-${process.pid}`);
  const fd = openSync(file, "a");
  const record = Buffer.alloc(256, "x");
  const times: number[] = [];
  try {
    for (let i = 0; i < samples; i += 1) {
      const start = performance.now();
      writeSync(fd, record);
      fdatasyncSync(fd);
      times.push(performance.now() - start);
    }
  } finally {
    closeSync(fd);
    rmSync(file, { force: true });
  }
  return times;
}
