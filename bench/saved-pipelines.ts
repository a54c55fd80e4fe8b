/**
 * Rigflow as the storage and soak benches drive it: one Engine and one in-process worker on a
 * private prefix, running saved pipelines by id (as the API and the CLI mostly do: the document is
 * stored with its version, not with each run). Unlike bench/rigflow.ts, the worker's options (run
 * retention, a logger) are the caller's.
 */
import type { Logger } from "pino";
import { pino } from "pino";
import { drivers } from "../src/drivers/registry.js";
import {
  connectRedis,
  createCatalog,
  defaultLimits,
  Engine,
  type RunRetention,
} from "../src/engine/index.js";
import { startWorker } from "../src/worker/worker.js";
import { mockServos } from "./rigflow.js";
import { toDocument, type Workload } from "./workloads.js";

export interface SavedPipelineRunner {
  engine: Engine;
  /** The BullMQ queues the runs use: "runs" and one per device. */
  queueNames: string[];
  /** Saves the workload as pipeline `id` (mock-servo "status" nodes). */
  save(id: string, workload: Workload): Promise<void>;
  /** Runs pipeline `id` once and resolves with the run's id once it has completed; any other end throws. */
  run(id: string): Promise<string>;
  close(): Promise<void>;
}

export interface RunnerOptions {
  runRetention?: RunRetention;
  /** The worker's; silent if absent. */
  log?: Logger;
  /** A run not ended after this long is a hang: the bench fails. */
  runTimeoutMs?: number;
}

export async function openSavedPipelineRunner(
  redisUrl: string,
  prefix: string,
  deviceIds: readonly string[],
  options: RunnerOptions = {},
): Promise<SavedPipelineRunner> {
  const devices = mockServos(deviceIds);
  const runTimeoutMs = options.runTimeoutMs ?? 60_000;
  const redis = connectRedis(redisUrl, { blocking: false, name: "bench-engine" });
  const engine = new Engine(redis, prefix, createCatalog(devices, drivers.values()), defaultLimits);
  const worker = await startWorker({
    redisUrl,
    prefix,
    devices,
    drivers,
    log: options.log ?? pino({ level: "silent" }),
    ...(options.runRetention ? { runRetention: options.runRetention } : {}),
  });
  return {
    engine,
    queueNames: ["runs", ...deviceIds.map((id) => `device-${id}`)],
    async save(id, workload) {
      await engine.savePipeline(toDocument(id, workload));
    },
    async run(id) {
      const { runId } = await engine.submitRun({ pipelineId: id });
      const state = await engine.waitForRun(runId, runTimeoutMs);
      if (state.status !== "completed") {
        const stuck = state.nodes.filter((node) => node.status !== "completed").slice(0, 5);
        throw new Error(
          `Rigflow run ${runId} of ${id} ended ${state.status} (waited up to ${runTimeoutMs} ms); ` +
            `error: ${JSON.stringify(state.error)}; first unfinished nodes: ${JSON.stringify(stuck)}`,
        );
      }
      return runId;
    },
    async close() {
      await worker.close();
      await engine.close();
      await redis.quit();
    },
  };
}
