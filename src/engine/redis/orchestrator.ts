import { UnrecoverableError, WaitingChildrenError, type Job } from "bullmq";
import type { Logger } from "pino";
import type { PlanNode } from "../pipeline/plan.js";
import type { RunEventBody } from "../run/events.js";
import { nodeJobData, type QueueSet, type RunJobData } from "./queues.js";
import type { RunLedger } from "./run-ledger.js";
import type { RunStore, StoredRun } from "./run-store.js";

/** Rounds in which the run job finds no child pending yet nodes left unfinished, before it gives up on them. */
const reconcileRounds = 3;

/**
 * The run job's processor: the run's finalizer and reconciler. It wakes when the run starts and
 * whenever all of its current node jobs have ended; it releases the nodes whose predecessors are
 * complete (repairing a crash between a node's completion and its successors' enqueue), waits for
 * them as children, and ends the run once nothing is left to run.
 */
export function createRunProcessor(deps: {
  store: RunStore;
  ledger: RunLedger;
  queues: QueueSet;
  log: Logger;
}) {
  const { store, ledger, queues, log } = deps;

  return async function processRun(job: Job<RunJobData>, token?: string): Promise<{ status: string }> {
    const { runId } = job.data;
    const run = await store.loadRun(runId);
    if (!run) throw new UnrecoverableError(`run ${runId} has no ledger`);
    const nodeIds = run.plan.nodes.map((node) => node.id);
    await ledger.startRun(runId, run.pipelineId, {
      type: "pipeline_started",
      pipeline_name: run.plan.pipelineName,
      node_count: nodeIds.length,
    });
    for (let round = 0; round < reconcileRounds; round += 1) {
      const { epoch, released } = await ledger.releaseReady(runId, nodeIds);
      if (released.length > 0) {
        const byId = new Map(run.plan.nodes.map((node) => [node.id, node]));
        await queues.addNodeJobs(
          runId,
          released.map((nodeId) => {
            const node = byId.get(nodeId) as PlanNode;
            return { node, data: nodeJobData(runId, run.pipelineId, node, epoch) };
          }),
        );
      }
      if (await job.moveToWaitingChildren(token ?? "")) throw new WaitingChildrenError();
      const ended = await finishIfDone(run);
      if (ended) return ended;
    }
    return finishOrphaned(run);
  };

  /** Ends the run when none of its nodes can still move; returns undefined while some can. */
  async function finishIfDone(run: StoredRun): Promise<{ status: string } | undefined> {
    const state = await store.state(run.runId, run.plan);
    if (!state) throw new UnrecoverableError(`run ${run.runId} disappeared`);
    if (state.status === "completed") return { status: state.status };
    if (state.status === "failed" || state.status === "cancelled") {
      throw new UnrecoverableError(`run ended ${state.status}`);
    }
    const active = state.nodes.filter((node) => node.status === "queued" || node.status === "running");
    const completed = state.nodes.filter((node) => node.status === "completed");
    const fresh = { ...run, ...(await store.control(run.runId)) };
    if (completed.length === state.nodes.length) {
      await finish(fresh, "completed", null, {
        type: "pipeline_completed",
        success: true,
        execution_time: elapsed(fresh.startedAt),
        nodes_executed: completed.length,
      });
      return { status: "completed" };
    }
    if (fresh.halt === "" || active.length > 0) return undefined;
    const haltNode = state.nodes.find((node) => node.nodeId === fresh.haltNode);
    if (fresh.halt === "cancelled") {
      await finish(
        fresh,
        "cancelled",
        { code: "CANCELLED", message: "the run was cancelled", node_id: null },
        {
          type: "pipeline_cancelled",
          node_id: null,
        },
      );
    } else {
      const error = haltNode?.error ?? { code: "INTERNAL_ERROR", message: "a node failed" };
      const message = `node '${haltNode?.nodeId ?? "?"}' failed: ${error.message}`;
      await finish(
        fresh,
        "failed",
        { code: error.code, message, node_id: haltNode?.nodeId ?? null },
        {
          type: "pipeline_error",
          error_message: message,
          node_id: haltNode?.nodeId ?? null,
          error_type: error.code,
        },
      );
    }
    throw new UnrecoverableError(`run ended ${fresh.halt}`);
  }

  /** Nodes still queued or running with no job left: their jobs ended without reaching the ledger. */
  async function finishOrphaned(run: StoredRun): Promise<{ status: string }> {
    const state = await store.state(run.runId, run.plan);
    const epoch = await store.epoch(run.runId);
    for (const node of state?.nodes ?? []) {
      if (node.status !== "queued" && node.status !== "running") continue;
      log.warn({ runId: run.runId, nodeId: node.nodeId }, "node job ended without a result");
      await ledger.failNode(
        { runId: run.runId, pipelineId: run.pipelineId, nodeId: node.nodeId, epoch },
        "failed",
        {
          code: "NODE_INTERRUPTED",
          message: "the node's job ended without a result (its worker may have died)",
        },
        0,
      );
    }
    const ended = await finishIfDone(run);
    if (ended) return ended;
    throw new Error(`run ${run.runId} could not be reconciled; will try again`);
  }

  async function finish(
    run: StoredRun,
    status: "completed" | "failed" | "cancelled",
    error: { code: string; message: string; node_id: string | null } | null,
    body: RunEventBody,
  ): Promise<void> {
    await ledger.finishRun(run.runId, run.pipelineId, status, elapsed(run.startedAt), error, body);
    log.info({ runId: run.runId, status }, "run ended");
  }
}

function elapsed(startedAt: string | null): number {
  if (!startedAt) return 0;
  return Math.round(((Date.now() - Date.parse(startedAt)) / 1000) * 1e6) / 1e6;
}
