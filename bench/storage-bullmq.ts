/**
 * The storage baseline: each run as a raw BullMQ FlowProducer flow, a parent job in queue "runs"
 * with one child job per node on its device's queue (`device-<id>`, as Rigflow names them), each
 * child returning a small object like mock-servo's "status" outputs. Default job options, so BullMQ
 * keeps every completed job, as Rigflow keeps its node and run jobs (a week). A flow has no edges
 * between siblings, so a chain's children run in any order: what is measured is what is stored,
 * not the order.
 */
import { FlowProducer, Worker, type Job } from "bullmq";
import { Redis } from "ioredis";
import { withTimeout } from "./stats.js";
import type { Workload } from "./workloads.js";

export interface FlowRunner {
  queueNames: string[];
  /** Adds one flow of the workload and resolves once its parent has completed. */
  run(workload: Workload): Promise<void>;
  close(): Promise<void>;
}

interface NodeData {
  runId: string;
  nodeId: string;
}

const runTimeoutMs = 300_000;
const parentQueue = "runs";

export async function openFlowRunner(
  redisUrl: string,
  prefix: string,
  deviceIds: readonly string[],
): Promise<FlowRunner> {
  const connection = new Redis(redisUrl, {
    maxRetriesPerRequest: null,
    connectionName: "bench-storage-bullmq",
  });
  const flows = new FlowProducer({ connection, prefix });
  const pending = new Map<string, { resolve(): void; reject(error: Error): void }>();
  let sequence = 0;
  const fail = (runId: string | undefined, error: Error) => {
    if (runId !== undefined) pending.get(runId)?.reject(error);
  };

  // Like Rigflow's: a device runs one command at a time.
  const nodeWorkers = deviceIds.map((id) => {
    const worker = new Worker<NodeData>(
      `device-${id}`,
      (_job: Job<NodeData>) => Promise.resolve({ position: 0, homed: false }),
      { connection, prefix, concurrency: 1 },
    );
    worker.on("failed", (job, error) =>
      fail(job?.data.runId, new Error(`bullmq node job ${job?.id ?? "?"} failed: ${error.message}`)),
    );
    worker.on("error", (error) => console.error(`storage baseline device-${id}: ${error.message}`));
    return worker;
  });
  const parentWorker = new Worker<{ runId: string }>(parentQueue, () => Promise.resolve({}), {
    connection,
    prefix,
    concurrency: 50,
  });
  // "completed" is emitted once the job has moved to completed, so its run is all stored by then.
  parentWorker.on("completed", (job) => pending.get(job.data.runId)?.resolve());
  parentWorker.on("failed", (job, error) =>
    fail(job?.data.runId, new Error(`bullmq parent job ${job?.id ?? "?"} failed: ${error.message}`)),
  );
  parentWorker.on("error", (error) => console.error(`storage baseline runs: ${error.message}`));
  await Promise.all([...nodeWorkers, parentWorker].map((worker) => worker.waitUntilReady()));

  return {
    queueNames: [parentQueue, ...deviceIds.map((id) => `device-${id}`)],
    async run(workload) {
      sequence += 1;
      const runId = `r${sequence}`;
      const done = new Promise<void>((resolve, reject) => pending.set(runId, { resolve, reject }));
      // A failure may come while the add is still awaited; it is thrown by the await below.
      done.catch(() => undefined);
      try {
        await flows.add({
          name: "run",
          queueName: parentQueue,
          data: { runId },
          opts: { jobId: runId },
          children: workload.nodes.map((node) => ({
            name: "status",
            queueName: `device-${node.device}`,
            data: { runId, nodeId: node.id } satisfies NodeData,
          })),
        });
        await withTimeout(done, runTimeoutMs, `bullmq flow ${runId} (${workload.name})`);
      } finally {
        pending.delete(runId);
      }
    },
    async close() {
      await Promise.all([...nodeWorkers, parentWorker].map((worker) => worker.close()));
      await flows.close();
      await connection.quit();
    },
  };
}
