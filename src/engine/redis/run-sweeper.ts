import type { Redis } from "ioredis";
import { endedRunStatuses, type RunStatus } from "../run/types.js";
import type { RedisKeys } from "./keys.js";
import type { QueueSet } from "./queues.js";

/** How long a resume waits for a run job that is just now ending (active) to be retryable. */
const settleMs = 2000;

/**
 * Makes sure a run that has not ended has a run job that can wake: re-adds a missing one (removed
 * by hand), retries one that has ended. A job still active is about to end (it fails a run that
 * just ended failed): wait a little for it. Returns whether it had to act.
 */
export async function wakeRunJob(queues: QueueSet, runId: string, pipelineId: string): Promise<boolean> {
  const deadline = Date.now() + settleMs;
  for (;;) {
    const job = await queues.runs().getJob(runId);
    if (!job) {
      await queues.addRunJob(runId, pipelineId);
      return true;
    }
    const state = await job.getState();
    if (state === "failed" || state === "completed") {
      // Another process may have retried it a moment ago; then it is awake, which is all we want.
      return job.retry(state).then(
        () => true,
        () => false,
      );
    }
    if (state !== "active" || Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The periodic half of the reconciler: a crash between a run's ledger change and its run job's (a
 * resume whose run job was never retried) would leave the run stuck; this wakes the run job of every
 * active run that needs it. Returns how many it woke.
 */
export async function sweepActiveRuns(redis: Redis, keys: RedisKeys, queues: QueueSet): Promise<number> {
  let woken = 0;
  for (const runId of await redis.smembers(keys.activeRuns)) {
    const [status, pipelineId] = await redis.hmget(keys.run(runId), "status", "pipeline_id");
    if (!status || !pipelineId || endedRunStatuses.has(status as RunStatus)) {
      await redis.srem(keys.activeRuns, runId);
      continue;
    }
    if (await wakeRunJob(queues, runId, pipelineId)) woken += 1;
  }
  return woken;
}
