import type { Redis } from "ioredis";
import { RigflowError } from "../errors/rigflow-error.js";
import type { Plan, PlanNode } from "../pipeline/plan.js";
import type { PauseMode, RunStatus } from "../run/types.js";
import type { RedisKeys } from "./keys.js";
import type { QueueSet } from "./queues.js";
import type { RunLedger } from "./run-ledger.js";
import { wakeRunJob } from "./run-sweeper.js";

interface PauseDeps {
  redis: Redis;
  keys: RedisKeys;
  ledger: RunLedger;
  queues: QueueSet;
}

/**
 * Pauses a run: no node of it starts from now on (node-begin.lua), and the run job makes it
 * `paused` once nothing of it runs. Its queued nodes' jobs leave their queues now
 * (removeQueuedJobs). An immediate pause also tells every worker to stop the run's
 * running commands (halt-watch.ts reads it again if the message is lost). Returns the run's status.
 */
export async function pauseRun(
  deps: PauseDeps,
  run: { runId: string; plan: Plan },
  mode: PauseMode,
): Promise<RunStatus> {
  const { redis, keys, ledger, queues } = deps;
  const { runId, plan } = run;
  // The epoch as the pause found it: a resume just before would have made older jobs stale.
  const { status, halt, epoch } = await ledger.pauseRun(runId, mode);
  if (status === "completed" || status === "failed" || status === "cancelled") {
    throw new RigflowError("RUN_ALREADY_ENDED", `run ${runId} has already ended (${status})`, {
      run_id: runId,
      status,
    });
  }
  if (halt !== "paused") {
    const why = halt === "cancelled" ? "being cancelled" : "failing (a node failed, or it timed out)";
    throw new RigflowError("RUN_STOPPING", `run ${runId} is ${why} and cannot be paused`, {
      run_id: runId,
      status,
    });
  }
  if (mode === "immediate") await redis.publish(keys.cancelChannel, `${runId} pause`);
  await removeQueuedJobs({ ledger, queues }, runId, plan.nodes, epoch);
  // A held run's job has ended (it rests): it wakes to make the run paused.
  if (status === "held") await wakeRunJob(queues, runId, plan.pipelineId);
  return status as RunStatus;
}

/**
 * Takes a resting run's queued nodes' jobs out of their queues, so that it rests without waiting
 * for them to come up (on a busy or offline device), and its waiting approvals' jobs, once they
 * are queued again (approvals-rest.lua). The ledger keeps the nodes queued: a resume gives them
 * jobs of its new epoch. A job that has come up is locked and stays: it finds the run resting
 * when it begins, and ends.
 */
export async function removeQueuedJobs(
  deps: { ledger: RunLedger; queues: QueueSet },
  runId: string,
  nodes: readonly PlanNode[],
  epoch: number,
): Promise<void> {
  const found = new Set(
    await deps.ledger.nodesWithJobs(
      runId,
      nodes.map((node) => node.id),
      ["queued", "waiting"],
    ),
  );
  const resting = nodes.filter((node) => found.has(node.id));
  const approvals = resting.filter((node) => node.approval).map((node) => node.id);
  await deps.queues.removeNodeJobs(runId, resting, epoch, () =>
    deps.ledger.approvals.rest(runId, epoch, approvals),
  );
}

/**
 * Resumes a paused run in a new epoch: its queued nodes go back to pending and the run job
 * releases them again with new jobs, then `pipeline_resumed` ("unpaused"). The run's timeout job
 * moves to the new epoch with the time it had left: a pause does not stop the run's clock.
 * Returns the run's status now (running; queued if it was paused before it started).
 */
export async function unpauseRun(
  deps: PauseDeps,
  run: { runId: string; plan: Plan; epoch: number },
): Promise<RunStatus> {
  const { ledger, queues } = deps;
  const { runId, plan } = run;
  // Read first: the old epoch's timeout job, once stale, ends itself (and is gone).
  const firesAt = await queues.runTimeoutAt(runId, run.epoch);
  const { before, after, epoch, resumed } = await ledger.resumeRun(
    runId,
    plan.pipelineId,
    plan.nodes.map((node) => node.id),
    "unpause",
  );
  if (!resumed || before !== "paused") {
    throw new RigflowError(
      "RUN_NOT_PAUSED",
      before === "running" || before === "queued"
        ? `run ${runId} is not paused (a pausing run can be resumed once its running nodes have finished)`
        : before === "paused"
          ? `run ${runId} is being cancelled (or timed out) while paused; it cannot be resumed`
          : `run ${runId} is ${before}; only a paused run can be resumed`,
      { run_id: runId, status: before },
    );
  }
  await queues.carryRunTimeout(runId, plan.pipelineId, firesAt, { from: run.epoch, to: epoch });
  // If this fails, the ledger says running and the sweeper wakes the run job within 30 s.
  await wakeRunJob(queues, runId, plan.pipelineId);
  return after as RunStatus;
}
