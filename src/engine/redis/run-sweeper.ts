import type { Redis } from "ioredis";
import { endedRunStatuses, type RunStatus } from "../run/types.js";
import type { RedisKeys } from "./keys.js";
import type { QueueSet } from "./queues.js";
import { loadScripts } from "./scripts.js";

/** How long a resume waits for a run job that is just now ending (active) to be retryable. */
const settleMs = 2000;

/**
 * Makes sure a run that has not ended has a run job that can wake: re-adds a missing one (removed
 * by hand), retries one that has ended. After a resume, a job still active is about to end (it
 * fails a run that just ended failed): wait up to `waitMs` for it. Returns whether it had to act.
 */
export async function wakeRunJob(
  queues: QueueSet,
  runId: string,
  pipelineId: string,
  waitMs = settleMs,
): Promise<boolean> {
  const deadline = Date.now() + waitMs;
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
    if (state !== "active" || Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * The periodic half of the reconciler: a crash between a run's ledger change and its run job's (a
 * resume whose run job was never retried) would leave the run stuck; this wakes the run job of every
 * active run that needs it. Returns how many it woke or repaired.
 */
export async function sweepActiveRuns(redis: Redis, keys: RedisKeys, queues: QueueSet): Promise<number> {
  let woken = 0;
  const scripts = loadScripts(redis);
  for (const runId of await redis.smembers(keys.activeRuns)) {
    const [status, pipelineId, halt] = await redis.hmget(keys.run(runId), "status", "pipeline_id", "halt");
    if (!status || !pipelineId || endedRunStatuses.has(status as RunStatus)) {
      // Decided again in the script: a run admitted a moment ago (run-admit.lua) may have its
      // record by now. (One created a moment ago may have no run job yet: adding it here is harmless.)
      await scripts["active-run-drop"]([keys.run(runId), keys.activeRuns], [runId]);
      continue;
    }
    // A paused or held run rests, with no run job awake, until a person acts; an action that
    // changed its halt (a cancel, a resume) and died before waking the job is woken here.
    if ((status === "paused" || status === "held") && halt === status) continue;
    // An active run job is alive: the periodic sweep does not wait on it (it would wait 2 s on each
    // run being processed, one after the other); the next sweep looks again.
    if (await wakeRunJob(queues, runId, pipelineId, 0)) woken += 1;
    else if ((await releaseEndedChildren(queues, runId)) > 0) woken += 1;
  }
  return woken;
}

/**
 * A run job waiting for children that have ended would wait for ever. BullMQ moves an ended child
 * out of its parent's pending dependencies itself, but adding a job whose id exists and has failed,
 * with the same parent, puts it back (updateExistingJobsParent). Rigflow adds only jobs the ledger
 * has just released, so this is a repair of last resort: each ended child still pending is let go,
 * and the run job wakes once none is left. Returns how many were let go.
 */
export async function releaseEndedChildren(queues: QueueSet, runId: string): Promise<number> {
  const runJob = await queues.runs().getJob(runId);
  if (!runJob || (await runJob.getState()) !== "waiting-children") return 0;
  let released = 0;
  let cursor = 0;
  do {
    const page = await runJob.getDependencies({ unprocessed: { cursor, count: 100 } });
    for (const key of page.unprocessed ?? []) {
      // "<prefix>:<queue>:<job id>": neither a queue name nor a job id has a ':'.
      const [jobId = "", queueName = ""] = key.split(":").reverse();
      const child = await queues.get(queueName).getJob(jobId);
      const state = await child?.getState();
      if (child && (state === "failed" || state === "completed") && (await child.removeChildDependency())) {
        released += 1;
      }
    }
    cursor = page.nextUnprocessedCursor ?? 0;
  } while (cursor !== 0);
  return released;
}
