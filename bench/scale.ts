/**
 * Scale: chains and 1-n-1 fans from 100 to 10,000 nodes, Rigflow against raw BullMQ on the same
 * redis-server, one run at a time, the two taking turns run by run. Per shape: the median ms per node of each system, their ratio,
 * the slowest single Redis command while Rigflow ran it (SLOWLOG, everything over 1 ms is logged),
 * and the time `GET /api/runs/{id}` takes to answer through the Engine for the last run of each
 * shape (read, mapped to the wire and serialized; p50 of several reads). Then the cancel of a wide
 * fan-out with its nodes queued, and nodes per second over several 1-98-1 fans at once.
 */
import { performance } from "node:perf_hooks";
import type { Redis } from "ioredis";
import { runView } from "../src/api/wire.js";
import { drivers } from "../src/drivers/registry.js";
import { connectRedis, defaultLimits, type Engine } from "../src/engine/index.js";
import { startBaseline, type BaselineHarness } from "./baseline.js";
import { mockServos, openRigflow, type InProcessRigflow } from "./rigflow.js";
import { percentile, withTimeout } from "./stats.js";
import { fanOutIn, toDocument, type Workload } from "./workloads.js";

export interface ScaleShape {
  workload: Workload;
  /** Timed runs (after `warmups`). */
  repetitions: number;
  warmups: number;
}

export interface SlowCommand {
  micros: number;
  command: string;
}

export interface ShapeScale {
  shape: ScaleShape;
  rigflowMs: number[];
  baselineMs: number[];
  /** The slowest command Redis logged while Rigflow ran this shape; null if none took over 1 ms. */
  slowest: SlowCommand | null;
  /** p50 of reading the last run of this shape back (the API's `GET /api/runs/{id}`), ms. */
  readRunMs: number;
  /** CPU spent over the timed runs of each. */
  rigflowCpu: CpuSpent;
  baselineCpu: CpuSpent;
}

/**
 * CPU spent while runs of one system went on, in ms: this process's (where both systems' workers
 * run, one system at a time) and redis-server's (`INFO cpu`, shared by both, one at a time too).
 */
export interface CpuSpent {
  processMs: number;
  redisMs: number;
}

export interface CancelScale {
  /** Nodes queued when the cancel was asked. */
  queued: number;
  /** From the cancel request to the run's end (pipeline_cancelled), ms. */
  cancelMs: number;
  slowest: SlowCommand | null;
  /** The resume of that cancelled run (every one of its cancelled nodes back to pending), ms. */
  resumeMs: number;
  resumeSlowest: SlowCommand | null;
}

/** Wall time of `runs` runs of one workload at once, first submit to last end, each timed repetition. */
export interface ConcurrentScale {
  workload: Workload;
  runs: number;
  rigflowMs: number[];
  baselineMs: number[];
}

export interface ScaleOptions {
  prefix: string;
  deviceIds: readonly string[];
  shapes: ScaleShape[];
  /** Reads of the finished run, for its p50. */
  reads: number;
  /** The fan-out whose cancel is timed: a root, then this many long moves (all queued but four). */
  cancelWidth: number;
  /** Runs of a 1-98-1 fan at once, for nodes per second (the 10 concurrent 100-node fans). */
  concurrentFans: number;
}

/** The largest runs take tens of seconds; beyond this one hangs. */
const runTimeoutMs = 600_000;

type ScaleResult = { shapes: ShapeScale[]; cancel: CancelScale; concurrent: ConcurrentScale };

export async function measureScale(redisUrl: string, options: ScaleOptions): Promise<ScaleResult> {
  const admin = connectRedis(redisUrl, { blocking: false, name: "bench-scale" });
  try {
    return await measureWith(admin, redisUrl, options);
  } finally {
    await admin.config("SET", "slowlog-log-slower-than", "10000").catch(() => undefined);
    await admin.quit().catch(() => undefined);
  }
}

async function measureWith(admin: Redis, redisUrl: string, options: ScaleOptions): Promise<ScaleResult> {
  const maxNodes = Math.max(
    options.cancelWidth + 1,
    ...options.shapes.map((shape) => shape.workload.nodes.length),
  );
  const rigflow = await openRigflow(
    redisUrl,
    `${options.prefix}-rigflow`,
    mockServos(options.deviceIds),
    drivers,
    { runTimeoutMs, limits: { ...defaultLimits, maxNodes } },
  );
  try {
    const baseline = await startBaseline(
      redisUrl,
      `${options.prefix}-baseline`,
      options.deviceIds,
      runTimeoutMs,
    );
    try {
      return await measureBoth(admin, rigflow, baseline, options);
    } finally {
      await withTimeout(baseline.close(), 30_000, "scale: closing baseline");
    }
  } finally {
    await withTimeout(rigflow.close(), 30_000, "scale: closing rigflow");
  }
}

/**
 * Both systems are open at once and take turns, one run each, so that this machine's swings in
 * speed (a shared VM's can reach 2x over a minute) fall on both alike and the ratio stays honest.
 */
async function measureBoth(
  admin: Redis,
  rigflow: InProcessRigflow,
  baseline: BaselineHarness,
  options: ScaleOptions,
): Promise<ScaleResult> {
  const fan = fanOutIn(98, options.deviceIds);
  let sequence = 0;
  const fansAtOnce = async () => {
    const start = performance.now();
    await Promise.all(
      Array.from({ length: options.concurrentFans }, () => {
        sequence += 1;
        return rigflow.runRequest({ document: toDocument(`scale-fans-${sequence}`, fan) });
      }),
    );
    return performance.now() - start;
  };
  await admin.config("SET", "slowlog-log-slower-than", "1000");
  await admin.config("SET", "slowlog-max-len", "1024");
  const shapes: ShapeScale[] = [];
  for (const shape of options.shapes) {
    const { workload, warmups, repetitions } = shape;
    process.stderr.write(`scale: ${workload.name} x ${repetitions}, rigflow and raw BullMQ in turn\n`);
    let lastRunId = "";
    const once = async () => {
      sequence += 1;
      const document = toDocument(`scale-${workload.name}-${sequence}`, workload);
      const start = performance.now();
      lastRunId = await rigflow.runRequest({ document });
      return performance.now() - start;
    };
    await inTurn(warmups, once, () => baseline.timeRun(workload));
    await admin.slowlog("RESET");
    const rigflowCpu = { processMs: 0, redisMs: 0 };
    const baselineCpu = { processMs: 0, redisMs: 0 };
    const [rigflowMs, baselineMs] = await inTurn(
      repetitions,
      withCpu(admin, once, rigflowCpu),
      withCpu(admin, () => baseline.timeRun(workload), baselineCpu),
    );
    const slowest = await slowestCommand(admin, `${options.prefix}-baseline`);
    const readMs: number[] = [];
    for (let i = 0; i < options.reads; i += 1) {
      const start = performance.now();
      JSON.stringify(runView(await rigflow.engine.getRunOverview(lastRunId)));
      readMs.push(performance.now() - start);
    }
    const readRunMs = percentile(readMs, 50);
    shapes.push({ shape, rigflowMs, baselineMs, slowest, readRunMs, rigflowCpu, baselineCpu });
  }
  process.stderr.write(`scale: cancel of a 1-${options.cancelWidth} fan-out\n`);
  const cancel = await measureCancel(rigflow.engine, admin, options);
  process.stderr.write(`scale: ${options.concurrentFans} ${fan.name} at once x 5, in turn\n`);
  const timeBaselineFans = () => baseline.timeConcurrentRuns(fan, options.concurrentFans);
  await inTurn(2, fansAtOnce, timeBaselineFans);
  const [rigflowMs, baselineMs] = await inTurn(5, fansAtOnce, timeBaselineFans);
  const concurrent = { workload: fan, runs: options.concurrentFans, rigflowMs, baselineMs };
  return { shapes, cancel, concurrent };
}

/** `times` rounds of one timed run of each, first then second: their times, in two lists. */
async function inTurn(
  times: number,
  first: () => Promise<number>,
  second: () => Promise<number>,
): Promise<[number[], number[]]> {
  const firsts: number[] = [];
  const seconds: number[] = [];
  for (let i = 0; i < times; i += 1) {
    firsts.push(await first());
    seconds.push(await second());
  }
  return [firsts, seconds];
}

/** `measured`, adding the CPU it spent (this process's and redis-server's) to `spent`. */
function withCpu(admin: Redis, measured: () => Promise<number>, spent: CpuSpent): () => Promise<number> {
  return async () => {
    const redisBefore = await redisCpuMs(admin);
    const processBefore = process.cpuUsage();
    const ms = await measured();
    const used = process.cpuUsage(processBefore);
    spent.processMs += (used.user + used.system) / 1000;
    spent.redisMs += (await redisCpuMs(admin)) - redisBefore;
    return ms;
  };
}

async function redisCpuMs(admin: Redis): Promise<number> {
  const info = await admin.info("cpu");
  const seconds = (field: string) => Number(new RegExp(`${field}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return (seconds("used_cpu_sys") + seconds("used_cpu_user")) * 1000;
}

/**
 * A root, then `cancelWidth` moves of three minutes each on the four servos: once the root has
 * completed and all but the four running moves are queued, the run is cancelled.
 */
async function measureCancel(engine: Engine, admin: Redis, options: ScaleOptions): Promise<CancelScale> {
  const devices = options.deviceIds;
  const middles = Array.from({ length: options.cancelWidth }, (_, i) => `m${i}`);
  const document = {
    id: "scale-cancel",
    name: "scale-cancel",
    nodes: [
      { id: "root", device_id: devices[0], function_id: "status", params: {} },
      ...middles.map((id, i) => ({
        id,
        device_id: devices[i % devices.length],
        function_id: "move",
        params: { position: 180, speed: 1 },
      })),
    ],
    edges: middles.map((id) => ({ source: "root", target: id })),
  };
  const { runId } = await engine.submitRun({ document });
  const deadline = performance.now() + 60_000;
  let queued = 0;
  for (;;) {
    const { nodeCounts } = await engine.getRunOverview(runId);
    queued = nodeCounts.queued;
    if (nodeCounts.queued + nodeCounts.running === options.cancelWidth && nodeCounts.running > 0) break;
    if (performance.now() > deadline)
      throw new Error(`scale: the fan-out never queued: ${JSON.stringify(nodeCounts)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await admin.slowlog("RESET");
  const start = performance.now();
  await engine.cancelRun(runId);
  const run = await engine.waitForRunOverview(runId, 60_000);
  const cancelMs = performance.now() - start;
  if (run.status !== "cancelled") throw new Error(`scale: the cancelled fan-out ended ${run.status}`);
  const slowest = await slowestCommand(admin);
  // Then its resume, which puts every cancelled node back to pending; cancelled again at once (its
  // moves would take minutes).
  await admin.slowlog("RESET");
  const resumeStart = performance.now();
  await engine.resumeRun(runId);
  const resumeMs = performance.now() - resumeStart;
  const resumeSlowest = await slowestCommand(admin);
  await engine.cancelRun(runId);
  await engine.waitForRunOverview(runId, 60_000);
  return { queued, cancelMs, slowest, resumeMs, resumeSlowest };
}

/**
 * SLOWLOG GET entries are [id, time, micros, [command, ...args], ...]. Commands on keys under
 * `ignored` (the baseline's, which ran in turn with Rigflow) are not Rigflow's.
 */
async function slowestCommand(redis: Redis, ignored?: string): Promise<SlowCommand | null> {
  const entries = (await redis.slowlog("GET", 1024)) as [number, number, number, string[]][];
  let slowest: SlowCommand | null = null;
  for (const [, , micros, args] of entries) {
    if (slowest && slowest.micros >= micros) continue;
    if (ignored && args.some((word) => word.startsWith(`${ignored}:`))) continue;
    // EVALSHA's first argument is a digest; its name says nothing, the key after it does.
    const words = args.slice(0, 4).map((word) => (word.length > 60 ? `${word.slice(0, 57)}...` : word));
    slowest = { micros, command: words.join(" ") };
  }
  return slowest;
}
