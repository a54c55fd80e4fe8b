import { DelayedError, UnrecoverableError, type Job } from "bullmq";
import { neverRetriedCodes } from "../errors/codes.js";
import type { PlanNode } from "../pipeline/plan.js";
import { haltedNodeError } from "./run-halt.js";
import { retryDelayMs, type RetryPolicy } from "../pipeline/retry.js";
import { NodeRetryError } from "./node-backoff.js";
import type { NodeError } from "../run/types.js";
import type { PlanCache } from "./plan-cache.js";
import { nodeJobData, type NodeJobData, type QueueSet } from "./queues.js";
import type { NodeRef, RunLedger } from "./run-ledger.js";

export type NodeStart =
  | { kind: "run"; inputs: Record<string, unknown>; attempt: number }
  | { kind: "skip" }
  /** Another run has reserved a device this node needs: set the job aside until it ends. */
  | { kind: "wait"; deviceId: string; holder: string }
  /** An attempt of this non-idempotent node began and its worker died: never repeat it by itself. */
  | { kind: "interrupted" };

const skipErrors = {
  cancelled: haltedNodeError("cancelled"),
  timeout: haltedNodeError("timeout"),
  failed: { code: "SKIPPED_AFTER_FAILURE", message: "not started: another node of the run failed" },
};

/**
 * What a worker does around a device command, in ledger terms: begin (or skip) an attempt, record
 * its outputs and release successors, or record a failure and decide whether BullMQ tries again.
 */
export class NodeLifecycle {
  constructor(
    private readonly ledger: RunLedger,
    private readonly queues: QueueSet,
    private readonly plans: PlanCache,
  ) {}

  async begin(job: Job<NodeJobData>): Promise<NodeStart> {
    const data = job.data;
    const attempt = job.attemptsMade + 1;
    const upstream = [...new Set(data.inputs.map((input) => input.sourceNode))];
    const result = await this.ledger.beginNode(
      { ...ref(data), jobId: job.id ?? "", idempotent: data.idempotent },
      attempt,
      {
        type: "node_executing",
        node_id: data.nodeId,
        node_type: "device",
        function_id: data.functionId,
        device_id: data.deviceId,
        attempt,
      },
      skipErrors,
      upstream,
      await this.plans.reservation(data.runId),
    );
    if (result.kind === "wait" || result.kind === "interrupted") return result;
    // "done": it completed before a crash; successors it released but whose jobs were lost with
    // the crash are stranded, and the run job adds them when it wakes.
    if (result.kind !== "run") return { kind: "skip" };
    const outputsOf = new Map(
      upstream.map((nodeId, index) => [nodeId, result.upstreamOutputs[index] ?? null]),
    );
    const inputs: Record<string, unknown> = { ...data.params };
    for (const { input, sourceNode, sourceOutput } of data.inputs) {
      inputs[input] = outputsOf.get(sourceNode)?.[sourceOutput];
    }
    return { kind: "run", inputs, attempt };
  }

  /**
   * Records the outputs and enqueues the released successors. A successor whose only predecessor
   * is this node is released by this completion for sure, unless the run is halting: its job is
   * added in the same round trip as the completion script, right behind it on the same connection
   * (node-begin.lua makes such a job stale when the successor was not released after all). The
   * others wait for the script's answer.
   */
  async complete(
    job: Job<NodeJobData>,
    outputs: Record<string, unknown>,
    executionTime: number,
  ): Promise<void> {
    const data = job.data;
    const nodes = await this.plans.nodes(data.runId);
    const direct = data.successors.filter((id) => nodes.get(id)?.predecessors.length === 1);
    const completed = this.ledger.completeNode(ref(data), outputs, executionTime, data.successors);
    const addedDirect = this.enqueue(data.runId, data.pipelineId, data.epoch, direct);
    const [completion] = await Promise.all([completed, addedDirect]);
    const rest = (completion?.released ?? []).filter((id) => !direct.includes(id));
    await Promise.all([
      this.enqueue(data.runId, data.pipelineId, data.epoch, rest),
      this.queues.promoteWaiters(completion?.woken ?? []),
    ]);
  }

  /**
   * Records a failed attempt and throws what BullMQ should see: an UnrecoverableError when this was
   * the last attempt (or trying again cannot help), so BullMQ's retry count never decides alone.
   */
  async fail(
    job: Job<NodeJobData>,
    error: NodeError & { retryable: boolean },
    executionTime: number,
  ): Promise<never> {
    const data = job.data;
    const attempt = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    const { retryable, ...recorded } = error;
    if (error.code === "CANCELLED") {
      await this.ledger.failNode(ref(data), "cancelled", recorded, executionTime);
      throw new UnrecoverableError(error.message);
    }
    if (!retryable || neverRetriedCodes.has(error.code) || attempt >= attempts) {
      await this.ledger.failNode(ref(data), "failed", recorded, executionTime);
      throw new UnrecoverableError(error.message);
    }
    // Decided once, here: node_retrying tells the delay BullMQ then applies (node-backoff.ts).
    const delayMs = retryDelayMs(data.retry ?? legacyRetry(job), attempt);
    await this.ledger.retryNode(ref(data), recorded, attempt + 1, delayMs);
    throw new NodeRetryError(error.message, delayMs);
  }

  /**
   * Puts a node whose command was stopped because its worker is shutting down back in its queue,
   * for another worker, without using up an attempt. Only for idempotent functions: running one
   * again from the start is safe.
   */
  async requeue(job: Job<NodeJobData>, error: NodeError, token: string | undefined): Promise<never> {
    await this.ledger.retryNode(ref(job.data), error, job.attemptsMade + 1, 0);
    await job.moveToDelayed(Date.now(), token);
    throw new DelayedError();
  }

  private async enqueue(
    runId: string,
    pipelineId: string,
    epoch: number,
    nodeIds: readonly string[],
  ): Promise<void> {
    if (nodeIds.length === 0) return;
    const nodes = await this.plans.nodes(runId);
    const jobs = nodeIds.flatMap((nodeId) => {
      const node: PlanNode | undefined = nodes.get(nodeId);
      return node ? [{ node, data: nodeJobData(runId, pipelineId, node, epoch) }] : [];
    });
    await this.queues.addNodeJobs(runId, jobs);
  }
}

const ref = (data: NodeJobData): NodeRef & { deviceId: string } => ({
  runId: data.runId,
  pipelineId: data.pipelineId,
  nodeId: data.nodeId,
  epoch: data.epoch,
  deviceId: data.deviceId,
});

/** A job added before jobs carried their retry policy: its fixed backoff, as BullMQ applies it. */
function legacyRetry(job: Job<NodeJobData>): RetryPolicy {
  const backoff = job.opts.backoff;
  const backoffMs = typeof backoff === "number" ? backoff : (backoff?.delay ?? 0);
  return { attempts: job.opts.attempts ?? 1, backoffMs };
}
