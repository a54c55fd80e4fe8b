import { UnrecoverableError, type Job } from "bullmq";
import type { NodeError } from "../run/types.js";
import type { PlanCache } from "./plan-cache.js";
import { nodeJobData, type NodeJobData, type QueueSet } from "./queues.js";
import type { NodeRef, ReleasedNode, RunLedger } from "./run-ledger.js";

export type NodeStart = { kind: "run"; inputs: Record<string, unknown>; attempt: number } | { kind: "skip" };

const skipErrors = {
  cancelled: { code: "CANCELLED", message: "not started: the run was cancelled" },
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
      ref(data),
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
    );
    if (result.kind === "done") {
      // Completed before a crash took its successors' enqueue with it: release them now.
      await this.enqueue(data, await this.ledger.releaseReady(data.runId, data.successors));
      return { kind: "skip" };
    }
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

  async complete(
    job: Job<NodeJobData>,
    outputs: Record<string, unknown>,
    executionTime: number,
  ): Promise<void> {
    const data = job.data;
    const released = await this.ledger.completeNode(ref(data), outputs, executionTime, data.successors);
    if (released) await this.enqueue(data, released);
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
    if (!retryable || attempt >= attempts) {
      await this.ledger.failNode(ref(data), "failed", recorded, executionTime);
      throw new UnrecoverableError(error.message);
    }
    const backoff = job.opts.backoff;
    const delayMs = typeof backoff === "number" ? backoff : (backoff?.delay ?? 0);
    await this.ledger.retryNode(ref(data), recorded, attempt + 1, delayMs);
    throw new Error(error.message);
  }

  private async enqueue(data: NodeJobData, released: readonly ReleasedNode[]): Promise<void> {
    if (released.length === 0) return;
    const nodes = await this.plans.nodes(data.runId);
    const jobs = released.flatMap(({ nodeId, generation }) => {
      const node = nodes.get(nodeId);
      return node ? [{ node, data: nodeJobData(data.runId, data.pipelineId, node, generation) }] : [];
    });
    await this.queues.addNodeJobs(data.runId, jobs);
  }
}

const ref = (data: NodeJobData): NodeRef => ({
  runId: data.runId,
  pipelineId: data.pipelineId,
  nodeId: data.nodeId,
  generation: data.generation,
});
