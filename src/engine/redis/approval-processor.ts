import { DelayedError, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { RedisKeys } from "./keys.js";
import { nodeJobData, type NodeJobData, type QueueSet } from "./queues.js";
import { addReleasedNodeJobs, endNodesNotBegun, haltedNodeError } from "./run-halt.js";
import type { RunLedger } from "./run-ledger.js";
import { removeQueuedJobs } from "./run-pause.js";
import type { StoredRun } from "./run-store.js";

/**
 * How long a waiting approval's job sleeps between looks at its node: a decision brings the job
 * forward at once, and this bounds how late it is seen when that could not be done (the API died
 * between recording the decision and bringing the job forward).
 */
export const defaultApprovalRecheckMs = 30_000;

const haltErrors = {
  cancelled: haltedNodeError("cancelled"),
  failed: haltedNodeError("failed"),
  timeout: haltedNodeError("timeout"),
};

/**
 * The run processor's handling of an approval node's job (in the runs queue, a child of its run
 * job, so the run job waits for it as for any node). The job does no work of its own: it puts the
 * node in `waiting` (approval-wait.lua) and sleeps, delayed, until its deadline; a person's decision
 * (approval-decision.ts) brings it forward. Woken, it adds the jobs of the successors an approval
 * released, fails the node APPROVAL_TIMEOUT past its deadline, or sleeps again.
 */
export function createApprovalProcessor(deps: {
  redis: Redis;
  keys: RedisKeys;
  ledger: RunLedger;
  queues: QueueSet;
  log: Logger;
  approvalRecheckMs?: number | undefined;
}) {
  const { redis, keys, ledger, queues } = deps;
  const recheckMs = deps.approvalRecheckMs ?? defaultApprovalRecheckMs;

  return async function processApproval(
    job: Job<NodeJobData>,
    token: string | undefined,
    run: StoredRun,
  ): Promise<{ status: string }> {
    const data = job.data;
    const nodes = new Map(run.plan.nodes.map((node) => [node.id, node]));
    const node = nodes.get(data.nodeId);
    if (!node?.approval) return { status: "stale" };
    const ref = { runId: data.runId, pipelineId: data.pipelineId, nodeId: data.nodeId, epoch: data.epoch };
    const found = await ledger.approvals.wait(ref, node, haltErrors);
    if (found.kind === "done") {
      const released = found.released.flatMap((id) => {
        const successor = nodes.get(id);
        return successor ? [successor] : [];
      });
      await addReleasedNodeJobs(
        { ledger, queues },
        data.runId,
        data.epoch,
        released.map((successor) => ({
          node: successor,
          data: nodeJobData(data.runId, data.pipelineId, successor, data.epoch),
        })),
      );
      return { status: "approved" };
    }
    if (found.kind === "ended") {
      // It failed or was held (its timeout, just now; or a rejection or timeout whose caller
      // may have died before this step): what follows is done again, harmlessly if done already.
      if (found.as === "failed") {
        await endNodesNotBegun({ ledger, queues }, data.runId, run.plan.nodes, data.epoch, "failed");
      } else {
        await removeQueuedJobs({ ledger, queues }, data.runId, run.plan.nodes, data.epoch);
      }
      return { status: found.as };
    }
    if (found.kind !== "wait") return { status: found.kind };
    // The script found it short of its deadline by this clock: the job comes back at it at most.
    const now = Date.now();
    await job.moveToDelayed(Math.min(found.deadline ?? Infinity, now + recheckMs), token);
    // A decision made while this job was active found no delayed job to bring forward: looked at
    // once the job is delayed, so that either the decision's own promote or this one sees it.
    const status = await redis.hget(keys.runNodes(data.runId), `${data.nodeId}:status`);
    if (status !== "waiting") await job.promote().catch(() => undefined);
    throw new DelayedError();
  };
}
