/**
 * The soak: many one-node runs submitted and completed, a bounded number in flight, on a
 * redis-server of its own (so that used_memory and DBSIZE are the soak's alone), with a short run
 * retention so that the retention sweeper removes runs during the soak. Every `pointEvery` runs a
 * point of the curve is taken (used_memory, DBSIZE, runs still stored); at the end, once the
 * retention has passed for the last runs, a final one. Flat memory: from the first point after one
 * retention window (the steady state: as many runs are removed as end), memory must not grow.
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { pino } from "pino";
import { connectRedis, type RunRetention } from "../src/engine/index.js";
import { startRedisServer } from "../src/infra/redis-server.js";
import { runPool } from "./pool.js";
import { openSavedPipelineRunner } from "./saved-pipelines.js";
import { withTimeout } from "./stats.js";
import { independent } from "./workloads.js";

export interface SoakOptions {
  runs: number;
  /** Runs submitted and not yet ended, at most. */
  inFlight: number;
  pointEvery: number;
  retention: RunRetention;
  deviceIds: readonly string[];
}

export interface SoakPoint {
  runsDone: number;
  /** INFO memory used_memory: what Redis's allocator holds, without fragmentation. */
  usedMemory: number;
  /** DBSIZE. */
  keys: number;
  /** ZCARD of the runs index: runs not yet removed by the retention (those in flight included). */
  runsStored: number;
  /** Runs created (the run-sequence counter) less those stored: what the retention has removed. */
  runsRemoved: number;
  elapsedS: number;
  /** One retention window (and two sweep intervals) has passed since the soak began. */
  retentionPassed: boolean;
  /** Taken after the last run, once the retention had passed for every run. */
  final: boolean;
}

export interface SoakResult {
  options: SoakOptions;
  points: SoakPoint[];
  /** Every run was removed before the final point (false: the wait for that timed out). */
  drained: boolean;
}

const prefix = "bench-soak";
/** Beyond the retention itself, how long the removal of the last runs may take before the bench gives up waiting. */
const drainSlackMs = 120_000;

export interface SoakHooks {
  /** Redis and the worker are up: the curve begins. */
  onReady(): void;
  onPoint(point: SoakPoint): void;
}

export async function measureSoak(options: SoakOptions, hooks: SoakHooks): Promise<SoakResult> {
  const server = await startRedisServer();
  process.stderr.write(`soak: redis-server of its own on ${server.url} (pid ${server.pid})\n`);
  try {
    return await soak(server.url, options, hooks);
  } finally {
    await server.stop();
  }
}

async function soak(redisUrl: string, options: SoakOptions, hooks: SoakHooks): Promise<SoakResult> {
  const redis = connectRedis(redisUrl, { blocking: false, name: "bench-soak" });
  // Warnings only: a retention step that fails must show, the per-run chatter must not.
  const log = pino({ level: "warn" }, pino.destination(2));
  const runner = await openSavedPipelineRunner(redisUrl, prefix, options.deviceIds, {
    runRetention: options.retention,
    log,
  });
  const points: SoakPoint[] = [];
  const started = performance.now();
  const windowS = options.retention.runRetentionS + (2 * options.retention.sweepIntervalMs) / 1000;
  const takePoint = async (runsDone: number, final: boolean) => {
    const [info, keys, runsStored, created] = await Promise.all([
      redis.info("memory"),
      redis.dbsize(),
      redis.zcard(runner.engine.keys.runs),
      redis.get(runner.engine.keys.runSequence),
    ]);
    const elapsedS = (performance.now() - started) / 1000;
    const point = {
      runsDone,
      usedMemory: Number(/^used_memory:(\d+)/m.exec(info)?.[1] ?? NaN),
      keys,
      runsStored,
      runsRemoved: Number(created ?? 0) - runsStored,
      elapsedS,
      retentionPassed: elapsedS >= windowS,
      final,
    };
    points.push(point);
    hooks.onPoint(point);
  };
  try {
    // One pipeline per device, the runs spread over them: one device alone would be the bottleneck.
    const pipelines = options.deviceIds.map((id) => `soak-${id}`);
    for (const [i, id] of pipelines.entries()) {
      await runner.save(id, independent(1, [options.deviceIds[i] as string]));
    }
    hooks.onReady();
    await takePoint(0, false);
    let done = 0;
    await runPool(options.runs, options.inFlight, async (index) => {
      await runner.run(pipelines[index % pipelines.length] as string);
      done += 1;
      if (done % options.pointEvery === 0) await takePoint(done, false);
    });
    process.stderr.write(`soak: all ${done} runs completed; waiting for the retention to remove them\n`);
    const drained = await runsRemoved(
      redis,
      runner.engine.keys.runs,
      options.retention.runRetentionS * 1000 + drainSlackMs,
    );
    await takePoint(done, true);
    return { options, points, drained };
  } finally {
    await withTimeout(runner.close(), 15_000, "soak: closing");
    await redis.quit();
  }
}

/** Resolves true once no run is stored, false if some still are after `ms`. */
async function runsRemoved(redis: Redis, runsKey: string, ms: number): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if ((await redis.zcard(runsKey)) === 0) return true;
    await sleep(500);
  }
  return false;
}
