import type { Job } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { DeviceLeaseStore } from "./device-lease.js";
import { defaultEventRetention, type EventRetention } from "./event-retention.js";
import { redisKeys, type RedisKeys } from "./keys.js";
import { NodeLifecycle } from "./node-lifecycle.js";
import { createRunProcessor } from "./orchestrator.js";
import { PlanCache } from "./plan-cache.js";
import { appendProgress } from "./progress.js";
import { QueueSet, type NodeJobData } from "./queues.js";
import { RunLedger } from "./run-ledger.js";
import { RunStore } from "./run-store.js";
import {
  defaultRunRetention,
  RunRetentionSweeper,
  type RetentionStep,
  type RunRetention,
} from "./run-retention.js";
import { sweepActiveRuns } from "./run-sweeper.js";

/** What a worker process needs of the engine: node lifecycles, the run processor, queues, keys. */
export interface WorkerRuntime {
  keys: RedisKeys;
  queues: QueueSet;
  lifecycle: NodeLifecycle;
  leases: DeviceLeaseStore;
  processRun: ReturnType<typeof createRunProcessor>;
  /** Records a node's progress; nothing is recorded once `fence` no longer holds the device. */
  progress(job: Job<NodeJobData>, fence: string, fraction: number, message: string): Promise<void>;
  /** Repairs runs left without a live run job; returns how many. */
  sweep(): Promise<number>;
  /** Removes some of the ended runs past their retention (bounded work; see RunRetentionSweeper). */
  removeExpiredRuns(): Promise<RetentionStep>;
  close(): Promise<void>;
}

export function createWorkerRuntime(
  redis: Redis,
  prefix: string,
  log: Logger,
  retention: EventRetention = defaultEventRetention,
  runRetention: RunRetention = defaultRunRetention,
  workerId = "worker",
  approvalRecheckMs?: number,
): WorkerRuntime {
  const keys = redisKeys(prefix);
  const store = new RunStore(redis, keys);
  const ledger = new RunLedger(redis, keys, retention);
  const queues = new QueueSet(redis, prefix);
  const expiredRuns = new RunRetentionSweeper(redis, keys, queues, store, runRetention, workerId);
  return {
    keys,
    queues,
    lifecycle: new NodeLifecycle(ledger, queues, new PlanCache(store)),
    leases: new DeviceLeaseStore(redis, keys),
    processRun: createRunProcessor({ redis, keys, store, ledger, queues, log, approvalRecheckMs }),
    async progress(job, fence, fraction, message) {
      const { runId, pipelineId, nodeId, epoch, deviceId } = job.data;
      const ref = { runId, pipelineId, nodeId, epoch, deviceId, fence };
      await Promise.all([
        appendProgress(redis, keys, ref, fraction, message, retention),
        job.updateProgress(fraction),
      ]);
    },
    sweep: () => sweepActiveRuns(redis, keys, queues),
    removeExpiredRuns: () => expiredRuns.step(),
    close: () => queues.close(),
  };
}
