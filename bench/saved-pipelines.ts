/**
 * Rigflow as the storage and soak benches drive it: one Engine and one in-process worker on a
 * private prefix, running saved pipelines by id (as the API and the CLI mostly do: the document is
 * stored with its version, not with each run), with the worker's options (run retention, a logger)
 * the caller's.
 */
import { drivers } from "../src/drivers/registry.js";
import type { Engine } from "../src/engine/index.js";
import { mockServos, openRigflow, type RigflowOptions } from "./rigflow.js";
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

export type RunnerOptions = RigflowOptions;

export async function openSavedPipelineRunner(
  redisUrl: string,
  prefix: string,
  deviceIds: readonly string[],
  options: RunnerOptions = {},
): Promise<SavedPipelineRunner> {
  const rigflow = await openRigflow(redisUrl, prefix, mockServos(deviceIds), drivers, options);
  return {
    engine: rigflow.engine,
    queueNames: ["runs", ...deviceIds.map((id) => `device-${id}`)],
    async save(id, workload) {
      await rigflow.engine.savePipeline(toDocument(id, workload));
    },
    run: (id) => rigflow.runRequest({ pipelineId: id }),
    close: () => rigflow.close(),
  };
}
