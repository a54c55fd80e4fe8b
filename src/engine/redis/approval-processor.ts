import { DelayedError, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { PlanNode } from "../pipeline/plan.js";
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
  const { redis, keys, ledger, queues, log } = deps;
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
    if (found.kind !== "wait") return { status: found.kind };
    const now = Date.now();
    if (found.deadline !== null && found.deadline <= now) return expire(run, node, data.epoch);
    await job.moveToDelayed(Math.min(found.deadline ?? Infinity, now + recheckMs), token);
    // A decision made while this job was active found no delayed job to bring forward: looked at
    // once the job is delayed, so that either the decision's own promote or this one sees it.
    const status = await redis.hget(keys.runNodes(data.runId), `${data.nodeId}:status`);
    if (status !== "waiting") await job.promote().catch(() => undefined);
    throw new DelayedError();
  };

  /** Past its deadline: the node fails APPROVAL_TIMEOUT, or is held for a person if it holds on failure. */
  async function expire(run: StoredRun, node: PlanNode, epoch: number): Promise<{ status: string }> {
    const held = node.onFailure === "hold";
    const outcome = await ledger.failNode(
      { runId: run.runId, pipelineId: run.pipelineId, nodeId: node.id, epoch, deviceId: "", fence: "" },
      held ? "held" : "failed",
      {
        code: "APPROVAL_TIMEOUT",
        message: `no one approved or rejected it within its timeout_ms (${node.timeoutMs} ms)`,
      },
      node.timeoutMs / 1000,
    );
    log.info({ runId: run.runId, nodeId: node.id, outcome }, "approval timed out");
    if (outcome === "halted") {
      await endNodesNotBegun({ ledger, queues }, run.runId, run.plan.nodes, epoch, "failed");
    } else if (held && outcome === "ended") {
      await removeQueuedJobs({ ledger, queues }, run.runId, run.plan.nodes, epoch);
    }
    return { status: "timed out" };
  }
}
