import type { Redis } from "ioredis";
import { endedRunStatuses, type RunStatus } from "../run/types.js";
import type { RedisKeys } from "./keys.js";
import type { QueueSet } from "./queues.js";

/**
 * The periodic half of the reconciler. A run that has not ended must have a run job that can
 * still wake; a crash between a run's ledger change and its job's (a resume whose run job was never
 * retried, a run job removed by hand) would leave it stuck. For every active run this re-adds a
 * missing run job and retries one that has ended. Returns how many runs it repaired.
 */
export async function sweepActiveRuns(redis: Redis, keys: RedisKeys, queues: QueueSet): Promise<number> {
  let repaired = 0;
  for (const runId of await redis.smembers(keys.activeRuns)) {
    const [status, pipelineId] = await redis.hmget(keys.run(runId), "status", "pipeline_id");
    if (!status || !pipelineId || endedRunStatuses.has(status as RunStatus)) {
      await redis.srem(keys.activeRuns, runId);
      continue;
    }
    const job = await queues.runs().getJob(runId);
    if (!job) {
      await queues.addRunJob(runId, pipelineId);
      repaired += 1;
      continue;
    }
    const state = await job.getState();
    if (state === "failed" || state === "completed") {
      // Another worker's sweep may have retried it a moment ago: then there is nothing to do.
      await job.retry(state).then(
        () => (repaired += 1),
        () => undefined,
      );
    }
  }
  return repaired;
}
