import type { Redis } from "ioredis";
import type { Plan } from "../pipeline/plan.js";
import type { RedisKeys } from "./keys.js";
import type { QueueSet } from "./queues.js";
import type { RunLedger } from "./run-ledger.js";

export type HaltReason = "cancelled" | "timeout";

/**
 * Stops a run from outside its nodes (a cancel, its timeout): halts it in the ledger so no node
 * starts, tells every worker to stop the run's running commands, and ends at once the nodes that
 * have not begun. Returns the run's status before the halt; a run that has ended is left alone.
 */
export async function haltRun(
  deps: { redis: Redis; keys: RedisKeys; ledger: RunLedger; queues: QueueSet },
  run: { runId: string; plan: Plan; epoch: number },
  reason: HaltReason,
): Promise<string> {
  const { redis, keys, ledger, queues } = deps;
  const before = await ledger.cancelRun(run.runId, reason);
  if (before === "completed" || before === "failed" || before === "cancelled") return before;
  await redis.publish(keys.cancelChannel, reason === "cancelled" ? run.runId : `${run.runId} ${reason}`);
  // Nodes that have not begun (queued behind another run's command, waiting out a backoff)
  // would hold the run open until they came up: take them out of their queues now.
  await queues.removeQueuedNodeJobs(run.runId, run.plan.nodes, run.epoch, (nodeIds) =>
    ledger.cancelQueuedNodes(run.runId, run.epoch, nodeIds, haltedNodeError(reason)),
  );
  return before;
}

/** What a node that never began says when its run was stopped. */
export function haltedNodeError(reason: HaltReason): { code: string; message: string } {
  return reason === "timeout"
    ? { code: "RUN_TIMEOUT", message: "not started: the run ran past its timeout_ms" }
    : { code: "CANCELLED", message: "not started: the run was cancelled" };
}
