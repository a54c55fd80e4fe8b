/**
 * Redis bytes per node of a finished run, events included: Rigflow, and the same shapes as raw
 * BullMQ flows (storage-bullmq.ts), each on a fresh key prefix. After one warm-up run of every
 * shape (so that the per-queue and per-pipeline keys exist and are not charged to the runs), the
 * footprint of the prefix is taken, `runs` runs of a shape are completed, the footprint is taken
 * again; bytes per node = growth / (runs x nodes). Nothing is removed meanwhile: Rigflow's
 * retention is days, and BullMQ keeps completed jobs.
 */
import type { Redis } from "ioredis";
import { connectRedis } from "../src/engine/index.js";
import { runPool } from "./pool.js";
import { footprint, growth, queuesIdle, type Footprint } from "./redis-footprint.js";
import { openSavedPipelineRunner } from "./saved-pipelines.js";
import { withTimeout } from "./stats.js";
import { openFlowRunner } from "./storage-bullmq.js";
import type { Workload } from "./workloads.js";

export interface StorageShape {
  workload: Workload;
  /** Runs measured (after the warm-up). */
  runs: number;
  /** Runs in flight at once. */
  concurrency: number;
}

export interface StorageOptions {
  prefix: string;
  deviceIds: readonly string[];
  shapes: StorageShape[];
}

export interface ShapeStorage {
  shape: StorageShape;
  rigflow: Footprint;
  bullmq: Footprint;
}

/** Jobs still moving after the last run ended: a few ms; beyond this something hangs. */
const settleTimeoutMs = 30_000;

export async function measureStorage(redisUrl: string, options: StorageOptions): Promise<ShapeStorage[]> {
  const redis = connectRedis(redisUrl, { blocking: false, name: "bench-storage" });
  try {
    const rigflow = await measureSystem(redisUrl, `${options.prefix}-rigflow`, options, redis, "rigflow");
    const bullmq = await measureSystem(redisUrl, `${options.prefix}-bullmq`, options, redis, "bullmq");
    return options.shapes.map((shape, i) => ({
      shape,
      rigflow: rigflow[i] as Footprint,
      bullmq: bullmq[i] as Footprint,
    }));
  } finally {
    await redis.quit();
  }
}

/** One system's growth per shape, in the order of `options.shapes`. */
async function measureSystem(
  redisUrl: string,
  prefix: string,
  options: StorageOptions,
  redis: Redis,
  system: "rigflow" | "bullmq",
): Promise<Footprint[]> {
  const runner = await openRunner(redisUrl, prefix, options, system);
  try {
    process.stderr.write(`storage ${system}: warm-up, one run of each shape\n`);
    for (const shape of options.shapes) await runner.run(shape);
    const grown: Footprint[] = [];
    for (const shape of options.shapes) {
      process.stderr.write(`storage ${system}: ${shape.runs} runs of ${shape.workload.name}\n`);
      await queuesIdle(redis, prefix, runner.queueNames, settleTimeoutMs);
      const before = await footprint(redis, prefix);
      await runPool(shape.runs, shape.concurrency, () => runner.run(shape));
      await queuesIdle(redis, prefix, runner.queueNames, settleTimeoutMs);
      grown.push(growth(before, await footprint(redis, prefix)));
    }
    return grown;
  } finally {
    await withTimeout(runner.close(), 15_000, `storage ${system}: closing`);
  }
}

interface ShapeRunner {
  queueNames: string[];
  run(shape: StorageShape): Promise<void>;
  close(): Promise<void>;
}

async function openRunner(
  redisUrl: string,
  prefix: string,
  options: StorageOptions,
  system: "rigflow" | "bullmq",
): Promise<ShapeRunner> {
  if (system === "bullmq") {
    const flows = await openFlowRunner(redisUrl, prefix, options.deviceIds);
    return { ...flows, run: (shape) => flows.run(shape.workload) };
  }
  // A 10,000-node chain takes tens of seconds here.
  const rigflow = await openSavedPipelineRunner(redisUrl, prefix, options.deviceIds, {
    runTimeoutMs: 300_000,
  });
  const pipelineId = (shape: StorageShape) => `storage-${shape.workload.name}`;
  for (const shape of options.shapes) await rigflow.save(pipelineId(shape), shape.workload);
  return {
    queueNames: rigflow.queueNames,
    run: async (shape) => {
      await rigflow.run(pipelineId(shape));
    },
    close: () => rigflow.close(),
  };
}
