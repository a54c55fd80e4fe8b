/**
 * The baseline: raw BullMQ doing the same work as Rigflow on the same Redis. One queue per device
 * (global concurrency 1, one worker of concurrency 1); each processor enqueues the successors whose
 * predecessors are all done before it returns. A successor with one predecessor is ready as soon as
 * that one is done; for one with several (a fan-in), the count of predecessors left is kept in
 * Redis (HINCRBY), the least any runner whose workers are separate processes must do. Nothing else:
 * no run record, no events, no parent job.
 */
import { Queue, Worker, type Job } from "bullmq";
import { Redis } from "ioredis";
import { timings, withTimeout } from "./stats.js";
import type { Workload } from "./workloads.js";

export interface BaselineHarness {
  timeRun(workload: Workload): Promise<number>;
  timeConcurrentRuns(workload: Workload, count: number): Promise<number>;
  close(): Promise<void>;
}

interface JobData {
  runId: string;
  nodeId: string;
}

interface ActiveRun {
  workload: Workload;
  device: Map<string, string>;
  successors: Map<string, string[]>;
  predecessorCount: Map<string, number>;
  done: number;
  resolve(): void;
  reject(error: Error): void;
}

export async function startBaseline(
  redisUrl: string,
  prefix: string,
  deviceIds: readonly string[],
  runTimeoutMs = 60_000,
): Promise<BaselineHarness> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null, connectionName: "bench-baseline" });
  const queues = new Map(
    deviceIds.map((id) => [id, new Queue<JobData>(`device-${id}`, { connection, prefix })]),
  );
  await Promise.all([...queues.values()].map((queue) => queue.setGlobalConcurrency(1)));
  const runs = new Map<string, ActiveRun>();
  let sequence = 0;

  /** Adds one job per node, with one add (or addBulk) per device queue. */
  async function enqueue(runId: string, run: ActiveRun, nodeIds: readonly string[]): Promise<void> {
    const byDevice = new Map<string, string[]>();
    for (const nodeId of nodeIds) {
      const device = run.device.get(nodeId) as string;
      byDevice.set(device, [...(byDevice.get(device) ?? []), nodeId]);
    }
    await Promise.all(
      [...byDevice].map(([device, ids]) => {
        const queue = queues.get(device) as Queue<JobData>;
        if (ids.length === 1) return queue.add("status", { runId, nodeId: ids[0] as string });
        return queue.addBulk(ids.map((nodeId) => ({ name: "status", data: { runId, nodeId } })));
      }),
    );
  }

  async function processNode(job: Job<JobData>): Promise<Record<string, never>> {
    const { runId, nodeId } = job.data;
    const run = runs.get(runId);
    if (!run) throw new Error(`baseline: job for unknown run ${runId}`);
    const ready = (
      await Promise.all(
        (run.successors.get(nodeId) ?? []).map(async (successor) => {
          const preds = run.predecessorCount.get(successor) ?? 0;
          const left =
            preds === 1 ? 0 : await connection.hincrby(`${prefix}:waiting:${runId}`, successor, -1);
          return left === 0 ? [successor] : [];
        }),
      )
    ).flat();
    if (ready.length > 0) await enqueue(runId, run, ready);
    run.done += 1;
    if (run.done === run.workload.nodes.length) {
      runs.delete(runId);
      run.resolve();
    }
    return {};
  }

  const workers = deviceIds.map((id) => {
    const worker = new Worker<JobData>(`device-${id}`, processNode, { connection, prefix, concurrency: 1 });
    worker.on("failed", (job, error) => {
      const run = job ? runs.get(job.data.runId) : undefined;
      run?.reject(new Error(`baseline job ${job?.id ?? "?"} on device-${id} failed: ${error.message}`));
    });
    worker.on("error", (error) => console.error(`baseline worker device-${id}: ${error.message}`));
    return worker;
  });

  function runOnce(workload: Workload): Promise<void> {
    sequence += 1;
    const runId = `r${sequence}`;
    const finished = new Promise<void>((resolve, reject) => {
      const run: ActiveRun = {
        workload,
        device: new Map(workload.nodes.map((node) => [node.id, node.device])),
        successors: new Map(),
        predecessorCount: new Map(workload.nodes.map((node) => [node.id, node.preds.length])),
        done: 0,
        resolve,
        reject,
      };
      for (const node of workload.nodes) {
        for (const pred of node.preds) {
          const list = run.successors.get(pred);
          if (list) list.push(node.id);
          else run.successors.set(pred, [node.id]);
        }
      }
      runs.set(runId, run);
      const fanIns = workload.nodes.filter((node) => node.preds.length > 1);
      const counts = Object.fromEntries(fanIns.map((node) => [node.id, node.preds.length]));
      const roots = workload.nodes.filter((node) => node.preds.length === 0).map((node) => node.id);
      const counted =
        fanIns.length > 0 ? connection.hset(`${prefix}:waiting:${runId}`, counts) : Promise.resolve(0);
      counted.then(() => enqueue(runId, run, roots)).catch((error: unknown) => reject(error as Error));
    });
    return withTimeout(finished, runTimeoutMs, `baseline run ${runId} (${workload.name})`);
  }

  return {
    ...timings(runOnce),
    async close() {
      await Promise.all(workers.map((worker) => worker.close()));
      await Promise.all([...queues.values()].map((queue) => queue.close()));
      await connection.quit();
    },
  };
}
