import { DelayedError, UnrecoverableError, type Job } from "bullmq";
import { neverRetriedCodes } from "../errors/codes.js";
import type { PlanNode } from "../pipeline/plan.js";
import { addReleasedNodeJobs, endNodesNotBegun, haltedNodeError } from "./run-halt.js";
import { retryDelayMs } from "../pipeline/retry.js";
import { NodeRetryError } from "./node-backoff.js";
import { releaseRest } from "./node-release.js";
import { removeQueuedJobs } from "./run-pause.js";
import type { NodeError } from "../run/types.js";
import type { PlanCache } from "./plan-cache.js";
import { nodeJobData, type NodeJobData, type QueueSet } from "./queues.js";
import type { FencedNodeRef, HeldCompletion, RunLedger } from "./run-ledger.js";

export type NodeStart =
  /** `startedAt` names this attempt in the ledger: complete() takes it back (HeldCompletion). */
  | { kind: "run"; inputs: Record<string, unknown>; attempt: number; startedAt: string }
  | { kind: "skip" }
  /** Another run has reserved a device this node needs: set the job aside until it ends. */
  | { kind: "wait"; deviceId: string; holder: string }
  /** This worker no longer holds the device: the job goes back to its queue, for the holder. */
  | { kind: "fenced" }
  /** An attempt of this non-idempotent node began and its worker died: never repeat it by itself. */
  | { kind: "interrupted" };

/** One node job as the worker holding its device runs it: BullMQ's lock token, the lease's fence. */
export interface NodeAttempt {
  job: Job<NodeJobData>;
  token: string | undefined;
  /** The worker's fencing token for the device's lease (device-lease-hold.lua). */
  fence: string;
}

/**
 * How long a job that a fenced-out worker hands back waits before it comes up again: long enough
 * that the worker (which notices its lost lease within a second, then stops taking the device's
 * jobs) does not spin on it, short enough not to delay the holder much.
 */
export const fencedRetryMs = 200;

const skipErrors = {
  cancelled: haltedNodeError("cancelled"),
  timeout: haltedNodeError("timeout"),
  failed: haltedNodeError("failed"),
};

/**
 * What a worker does around a device command, in ledger terms: begin (or skip) an attempt, record
 * its outputs and release successors, or record a failure and decide whether BullMQ tries again.
 * Every write carries the worker's fencing token, so a worker that lost the device changes nothing.
 */
export class NodeLifecycle {
  constructor(
    private readonly ledger: RunLedger,
    private readonly queues: QueueSet,
    private readonly plans: PlanCache,
  ) {}

  async begin(attempt: NodeAttempt): Promise<NodeStart> {
    const { job } = attempt;
    const data = job.data;
    const number = job.attemptsMade + 1;
    const upstream = [...new Set(data.inputs.map((input) => input.sourceNode))];
    const result = await this.ledger.beginNode(
      { ...ref(attempt), jobId: job.id ?? "", idempotent: data.idempotent },
      number,
      {
        type: "node_executing",
        node_id: data.nodeId,
        node_type: "device",
        function_id: data.functionId,
        device_id: data.deviceId,
        attempt: number,
      },
      skipErrors,
      upstream,
      await this.plans.reservation(data.runId),
    );
    if (result.kind === "wait" || result.kind === "interrupted" || result.kind === "fenced") return result;
    // "done": it completed before a crash; successors it released but whose jobs were lost with
    // the crash are stranded, and the run job adds them when it wakes. A release the crash stopped
    // part-way goes on from where it stood.
    if (result.kind === "done" && result.releaseNext > 0) {
      await this.carryOnRelease(attempt, result.releaseNext);
    }
    if (result.kind !== "run") return { kind: "skip" };
    const outputsOf = new Map(
      upstream.map((nodeId, index) => [nodeId, result.upstreamOutputs[index] ?? null]),
    );
    const inputs: Record<string, unknown> = { ...data.params };
    for (const { input, sourceNode, sourceOutput } of data.inputs) {
      inputs[input] = outputsOf.get(sourceNode)?.[sourceOutput];
    }
    return { kind: "run", inputs, attempt: number, startedAt: result.startedAt };
  }

  /**
   * Records the outputs, then enqueues the successors that this completion released, and only
   * those: adding a job whose id exists and has failed would re-link it to the run job (BullMQ's
   * updateExistingJobsParent), which would then wait for it for ever. Returns false if the worker
   * no longer holds the device, unless `held` shows the node still running from this attempt
   * (nothing was recorded). With `held`, a call that Redis refused part-way can be made again: it
   * answers as the first write of the completion did, so its successors are enqueued all the same.
   */
  async complete(
    attempt: NodeAttempt,
    outputs: Record<string, unknown>,
    executionTime: number,
    held?: HeldCompletion,
  ) {
    const data = attempt.job.data;
    const completion = await this.ledger.completeNode(
      ref(attempt),
      outputs,
      executionTime,
      data.successors,
      held,
    );
    if (completion === "fenced") return false;
    await Promise.all([
      this.enqueue(data.runId, data.pipelineId, data.epoch, completion?.released ?? []),
      this.queues.promoteWaiters(completion?.woken ?? []),
    ]);
    if (completion && completion.next > 0) await this.carryOnRelease(attempt, completion.next);
    return true;
  }

  /** The rest of a completed node's release of its successors, from position `from` on. */
  private carryOnRelease({ job }: NodeAttempt, from: number): Promise<void> {
    const data = job.data;
    return releaseRest(this.ledger, data, data.successors, from, (released) =>
      this.enqueue(data.runId, data.pipelineId, data.epoch, released),
    );
  }

  /**
   * Records a failed attempt and throws what BullMQ should see: an UnrecoverableError when this was
   * the last attempt (or trying again cannot help), so BullMQ's retry count never decides alone. A
   * failure that halts the run ends its nodes that have not begun at once. A node whose
   * `on_failure` is "hold" is held instead, for a person (its run holds), and its job ends. A worker
   * that no longer holds the device records nothing and hands the job back.
   */
  async fail(
    attempt: NodeAttempt,
    error: NodeError & { retryable: boolean },
    executionTime: number,
  ): Promise<{ held: true }> {
    const { job } = attempt;
    const data = job.data;
    const number = job.attemptsMade + 1;
    const attempts = job.opts.attempts ?? 1;
    const { retryable, ...recorded } = error;
    if (error.code === "CANCELLED") {
      const outcome = await this.ledger.failNode(ref(attempt), "cancelled", recorded, executionTime);
      if (outcome === "fenced") return handBack(attempt, fencedRetryMs);
      throw new UnrecoverableError(error.message);
    }
    if (!retryable || neverRetriedCodes.has(error.code) || number >= attempts) {
      // Stopped by the run's own end (its timeout) is no failure of the node's for a person to weigh.
      if (data.onFailure === "hold" && error.code !== "RUN_TIMEOUT") {
        return this.hold(attempt, recorded, executionTime);
      }
      const outcome = await this.ledger.failNode(ref(attempt), "failed", recorded, executionTime);
      if (outcome === "fenced") return handBack(attempt, fencedRetryMs);
      if (outcome === "halted") {
        const nodes = [...(await this.plans.nodes(data.runId)).values()];
        await endNodesNotBegun(
          { ledger: this.ledger, queues: this.queues },
          data.runId,
          nodes,
          data.epoch,
          "failed",
        );
      }
      throw new UnrecoverableError(error.message);
    }
    // Decided once, here: node_retrying tells the delay BullMQ then applies (node-backoff.ts).
    const delayMs = retryDelayMs(data.retry, number);
    if (!(await this.ledger.retryNode(ref(attempt), recorded, number + 1, delayMs))) {
      return handBack(attempt, fencedRetryMs);
    }
    throw new NodeRetryError(error.message, delayMs);
  }

  /**
   * Holds a node whose command was stopped part-way and must not run again by itself (an immediate
   * pause stopped a non-idempotent command): it waits for a person to recover it, and its run
   * holds. The job ends; a recovery gives the node a job of a new epoch. A worker that no longer
   * holds the device records nothing and hands the job back.
   */
  async hold(attempt: NodeAttempt, error: NodeError, executionTime: number): Promise<{ held: true }> {
    const outcome = await this.ledger.failNode(ref(attempt), "held", error, executionTime);
    if (outcome === "fenced") return handBack(attempt, fencedRetryMs);
    const { runId, epoch } = attempt.job.data;
    const nodes = [...(await this.plans.nodes(runId)).values()];
    await removeQueuedJobs({ ledger: this.ledger, queues: this.queues }, runId, nodes, epoch);
    return { held: true };
  }

  /**
   * Queues again a node whose command an immediate pause stopped (an idempotent one: it runs from
   * the start once the run is resumed), and ends its job: handed back, it would wait behind every
   * job of a busy device, or for ever on one whose worker stopped, and hold the pause open.
   */
  async requeueForResume(attempt: NodeAttempt, error: NodeError): Promise<{ paused: true }> {
    if (!(await this.ledger.retryNode(ref(attempt), error, null, 0))) return handBack(attempt, fencedRetryMs);
    return { paused: true };
  }

  /**
   * Puts a node whose command was stopped because its worker is shutting down back in its queue,
   * for another worker, without using up an attempt. Only for idempotent functions: running one
   * again from the start is safe.
   */
  async requeue(attempt: NodeAttempt, error: NodeError): Promise<never> {
    await this.ledger.retryNode(ref(attempt), error, attempt.job.attemptsMade + 1, 0);
    return handBack(attempt);
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
    await addReleasedNodeJobs({ ledger: this.ledger, queues: this.queues }, runId, epoch, jobs);
  }
}

/**
 * Sets the job aside for `delayMs` without using up an attempt (moveToDelayed skips the count): for
 * whichever worker holds the device now, or for another run's reservation to end. A worker that
 * lost its lock on the job too cannot move it; BullMQ's stall check hands it on then.
 */
export async function handBack({ job, token }: NodeAttempt, delayMs = 0): Promise<never> {
  await job.moveToDelayed(Date.now() + delayMs, token).catch(() => undefined);
  throw new DelayedError();
}

const ref = ({ job, fence }: NodeAttempt): FencedNodeRef => ({
  runId: job.data.runId,
  pipelineId: job.data.pipelineId,
  nodeId: job.data.nodeId,
  epoch: job.data.epoch,
  deviceId: job.data.deviceId,
  fence,
});
