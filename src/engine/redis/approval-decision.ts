import { RigflowError } from "../errors/rigflow-error.js";
import type { Plan, PlanNode } from "../pipeline/plan.js";
import type { ApprovalDecision } from "./approval-ledger.js";
import { nodeJobId, type QueueSet } from "./queues.js";
import { endNodesNotBegun } from "./run-halt.js";
import type { RunLedger } from "./run-ledger.js";
import { removeQueuedJobs } from "./run-pause.js";

/** What a decision answers: the node's status after it, and the run's. */
export interface DecisionOutcome {
  nodeStatus: string;
  runStatus: string;
}

/**
 * A person's decision on a waiting approval node: checks it against the plan (an approval's
 * outputs are the ones it declares, each of its type), records it (approval-decide.lua), then
 * brings the node's delayed job forward, which adds the jobs of the successors an approval
 * released. A rejection that fails the run ends its nodes not begun, as a failed command does; one
 * that holds takes the queued nodes' jobs away, as a hold does. Sent again (the same
 * Idempotency-Key, or the same body for the same wait), it answers as the first time, and does
 * the steps after the record again: a caller that died part-way is finished by its retry.
 */
export async function decideApproval(
  deps: { ledger: RunLedger; queues: QueueSet },
  run: { runId: string; plan: Plan },
  nodeId: string,
  decision: ApprovalDecision,
  requestId?: string,
): Promise<DecisionOutcome> {
  const { ledger, queues } = deps;
  const { runId, plan } = run;
  const node = plan.nodes.find((candidate) => candidate.id === nodeId);
  if (!node) {
    throw new RigflowError("NODE_NOT_FOUND", `run ${runId} has no node '${nodeId}'`, {
      run_id: runId,
      node_id: nodeId,
    });
  }
  if (!node.approval) {
    throw new RigflowError(
      "NODE_NOT_WAITING",
      `node '${nodeId}' is not an approval node; only a waiting approval can be approved or rejected`,
      { run_id: runId, node_id: nodeId },
    );
  }
  if (decision.action === "approve") checkApprovalOutputs(node, decision.outputs);
  const result = await ledger.approvals
    .decide({ runId, pipelineId: plan.pipelineId, nodeId }, node, decision, requestId ?? "")
    .catch((error: unknown) => {
      throw refusal(error, runId, nodeId) ?? error;
    });
  // The job sleeps until the deadline: woken now, it adds the released successors' jobs (or ends,
  // for a rejection), and its run job goes on. Lost (this process died), it wakes within 30 s.
  const job = await queues.runs().getJob(nodeJobId(runId, nodeId, result.epoch));
  await job?.promote().catch(() => undefined);
  if (result.nodeStatus === "failed") {
    await endNodesNotBegun({ ledger, queues }, runId, plan.nodes, result.epoch, "failed");
  } else if (result.nodeStatus === "held") {
    await removeQueuedJobs({ ledger, queues }, runId, plan.nodes, result.epoch);
  }
  return { nodeStatus: result.nodeStatus, runStatus: result.runStatus };
}

/** Every output the approval declares, each of its declared type, and no other. */
export function checkApprovalOutputs(node: PlanNode, outputs: Record<string, unknown>): void {
  const declared = node.approval?.outputs ?? {};
  const names = Object.keys(declared);
  const unknown = Object.keys(outputs).find((name) => !Object.hasOwn(declared, name));
  if (unknown !== undefined) {
    throw new RigflowError(
      "VALIDATION_FAILED",
      `outputs: '${unknown}' is not an output of approval '${node.id}' (it has ${names.join(", ") || "none"})`,
      { field: `outputs.${unknown}`, declared: names },
    );
  }
  for (const [name, type] of Object.entries(declared)) {
    const value = outputs[name];
    if (value === undefined) {
      throw new RigflowError("VALIDATION_FAILED", `outputs: '${name}' is missing`, {
        field: `outputs.${name}`,
        declared: names,
      });
    }
    const fits =
      type === "any" ||
      (type === "number" ? typeof value === "number" && Number.isFinite(value) : typeof value === type);
    if (!fits) {
      throw new RigflowError(
        "VALIDATION_FAILED",
        `outputs: '${name}' must be a ${type}, not ${JSON.stringify(value)}`,
        { field: `outputs.${name}`, expected: type },
      );
    }
  }
}

/** The script's refusals as the API's errors. */
function refusal(error: unknown, runId: string, nodeId: string): RigflowError | null {
  const message = error instanceof Error ? error.message : "";
  const notWaiting = /NODE_NOT_WAITING (\w+)/.exec(message);
  if (notWaiting) {
    const status = notWaiting[1] ?? "";
    return new RigflowError(
      "NODE_NOT_WAITING",
      `node '${nodeId}' is ${status}; only a waiting approval can be approved or rejected` +
        (status === "pending" || status === "queued" ? " (it waits once its predecessors are done)" : ""),
      { run_id: runId, node_id: nodeId, node_status: status },
    );
  }
  if (message.includes("APPROVAL_EXPIRED")) {
    return new RigflowError(
      "NODE_NOT_WAITING",
      `node '${nodeId}' waited past its timeout_ms: it fails APPROVAL_TIMEOUT (or is held), and takes no decision`,
      { run_id: runId, node_id: nodeId, node_status: "waiting" },
    );
  }
  const stopping = /RUN_NOT_GOING_ON (\w+) (\w+)/.exec(message);
  if (stopping) {
    const [, status, halt] = stopping;
    const why =
      halt === "paused" || halt === "held"
        ? `is ${halt === "paused" ? "pausing" : "holding"}: its approvals wait again once it goes on`
        : "is stopping (cancelled, failed or timed out)";
    return new RigflowError("RUN_STOPPING", `run ${runId} ${why}`, {
      run_id: runId,
      node_id: nodeId,
      status,
    });
  }
  if (message.includes("RUN_NOT_FOUND")) {
    return new RigflowError("RUN_NOT_FOUND", `no run '${runId}'`, { run_id: runId });
  }
  return null;
}
