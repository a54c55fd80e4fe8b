import type { Redis } from "ioredis";
import type { Plan, PlanNode } from "../pipeline/plan.js";
import type { RedisKeys } from "./keys.js";
import type { NodeJobData, QueueSet } from "./queues.js";
import type { RunLedger } from "./run-ledger.js";
import { wakeRunJob } from "./run-sweeper.js";

export type HaltReason = "cancelled" | "timeout";

/**
 * Stops a run from outside its nodes (a cancel, its timeout): halts it in the ledger so no node
 * starts, tells every worker to stop the run's running commands, and ends at once the nodes that
 * have not begun. Returns the run's status before the halt; a run that has ended is left alone,
 * and one already failing answers "failed" (it keeps its failure).
 */
export async function haltRun(
  deps: { redis: Redis; keys: RedisKeys; ledger: RunLedger; queues: QueueSet },
  run: { runId: string; plan: Plan; epoch: number },
  reason: HaltReason,
): Promise<string> {
  const { redis, keys, ledger, queues } = deps;
  const before = await ledger.cancelRun(run.runId, reason);
  if (before === "completed" || before === "failed" || before === "cancelled") return before;
  // Workers also re-read the halt flag of the runs they are running (halt-watch.ts), so a cancel
  // whose message a reconnecting subscriber missed still reaches the command.
  await redis.publish(keys.cancelChannel, reason === "cancelled" ? run.runId : `${run.runId} ${reason}`);
  await endNodesNotBegun({ ledger, queues }, run.runId, run.plan.nodes, run.epoch, reason);
  // A paused or held run's job has ended (it rests): it wakes to end the run.
  if (before === "paused" || before === "held") await wakeRunJob(queues, run.runId, run.plan.pipelineId);
  return before;
}

/**
 * Ends at once a halted run's nodes that have not begun (queued behind another run's command, on a
 * device that is offline, waiting out a backoff or a reservation), which would otherwise hold the
 * run open until they came up: the ledger first, then their jobs leave their queues.
 */
export async function endNodesNotBegun(
  deps: { ledger: RunLedger; queues: QueueSet },
  runId: string,
  nodes: readonly PlanNode[],
  epoch: number,
  reason: HaltReason | "failed",
): Promise<void> {
  // One read of the ledger first, so that a large run costs a job removal per node that may have one.
  const withJobs = new Set(
    await deps.ledger.nodesWithJobs(
      runId,
      nodes.map((node) => node.id),
      ["queued", "running", "waiting"],
    ),
  );
  const notEnded = nodes.filter((node) => withJobs.has(node.id));
  await endNodesWithJobs(deps, { runId, epoch, reason }, notEnded);
}

/** Ends these nodes in the ledger if they are still queued there, then takes their jobs away. */
function endNodesWithJobs(
  { ledger, queues }: { ledger: RunLedger; queues: QueueSet },
  halted: { runId: string; epoch: number; reason: HaltReason | "failed" },
  nodes: readonly PlanNode[],
): Promise<void> {
  const { runId, epoch, reason } = halted;
  return queues.removeNodeJobs(runId, nodes, epoch, (nodeIds) =>
    ledger.cancelQueuedNodes(runId, epoch, nodeIds, haltedNodeError(reason)),
  );
}

/**
 * Adds the jobs of nodes the ledger has released, then ends them again if the run was halted in
 * the meantime (or takes them away, if it was paused or held): a halt between the release and the
 * add removed their jobs before they existed.
 * Either this read sees the halt, or the halt's removal (which follows its flag) finds the jobs:
 * the read goes in the adds' round trip, and Redis runs it after them.
 */
export async function addReleasedNodeJobs(
  deps: { ledger: RunLedger; queues: QueueSet },
  runId: string,
  epoch: number,
  jobs: readonly { node: PlanNode; data: NodeJobData }[],
): Promise<void> {
  if (jobs.length === 0) return;
  const halt = await deps.queues.addNodeJobs(runId, jobs, deps.ledger.haltField(runId));
  if (halt === "paused" || halt === "held") {
    // The run rests: these nodes stay queued, and a resume gives them jobs of its new epoch.
    const nodes = jobs.map(({ node }) => node);
    await deps.queues.removeNodeJobs(runId, nodes, epoch, () => Promise.resolve());
  } else if (halt === "cancelled" || halt === "timeout" || halt === "failed") {
    // Their jobs exist now, whatever the ledger says of their nodes: the halt may have ended them
    // there already, before these jobs were added, and left nothing in the queues to remove.
    const nodes = jobs.map(({ node }) => node);
    await endNodesWithJobs(deps, { runId, epoch, reason: halt }, nodes);
  }
}

/** What a node that never began says when its run was stopped. */
export function haltedNodeError(reason: HaltReason | "failed"): { code: string; message: string } {
  if (reason === "failed") {
    return { code: "SKIPPED_AFTER_FAILURE", message: "not started: another node of the run failed" };
  }
  return reason === "timeout"
    ? { code: "RUN_TIMEOUT", message: "not started: the run ran past its timeout_ms" }
    : { code: "CANCELLED", message: "not started: the run was cancelled" };
}
