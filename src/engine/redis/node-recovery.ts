import type { DeviceCatalog } from "../catalog.js";
import { checkApprovalOutputs } from "./approval-decision.js";
import { RigflowError } from "../errors/rigflow-error.js";
import type { Plan, PlanNode } from "../pipeline/plan.js";
import type { RunStatus } from "../run/types.js";
import type { QueueSet } from "./queues.js";
import type { RunLedger } from "./run-ledger.js";
import { wakeRunJob } from "./run-sweeper.js";

/** What a person decides for a held node. */
export type Recovery =
  { action: "retry" } | { action: "skip" } | { action: "complete"; outputs: Record<string, unknown> };

/**
 * Recovers a held node (node-recover.lua): checks the decision against the plan first (a skip
 * leaves no successor without an input it maps; a completion's outputs are the function's and
 * give every output a successor maps), then records it. A held run goes on at once: its resume is
 * finished here as any other (the nodes to run again back to pending, the run job woken, the
 * timeout moved to the new epoch). `requestId` (an Idempotency-Key) names the recovery; without
 * one, the same decision on the same hold is taken for the same request (node-recover.lua).
 * Returns the run's status.
 */
export async function recoverNode(
  deps: { ledger: RunLedger; queues: QueueSet; catalog: DeviceCatalog },
  run: { runId: string; plan: Plan; epoch: number },
  nodeId: string,
  recovery: Recovery,
  requestId?: string,
): Promise<RunStatus> {
  const { ledger, queues, catalog } = deps;
  const { runId, plan } = run;
  const node = plan.nodes.find((candidate) => candidate.id === nodeId);
  if (!node) {
    throw new RigflowError("NODE_NOT_FOUND", `run ${runId} has no node '${nodeId}'`, {
      run_id: runId,
      node_id: nodeId,
    });
  }
  const takers = outputTakers(plan, nodeId);
  if (recovery.action === "skip" && takers.length > 0) {
    const names = [...new Set(takers.map((taker) => `'${taker.node}'`))].join(", ");
    throw new RigflowError(
      "NODE_OUTPUTS_NEEDED",
      `node '${nodeId}' cannot be skipped: ${names} take its outputs; complete it with outputs instead`,
      { run_id: runId, node_id: nodeId, outputs_needed: [...new Set(takers.map((taker) => taker.output))] },
    );
  }
  const outputs = recovery.action === "complete" ? recovery.outputs : null;
  // A held approval is completed as it would have been approved: its declared outputs, typed.
  if (outputs && node.approval) checkApprovalOutputs(node, outputs);
  else if (outputs) checkOutputs(catalog, node, outputs, takers);
  // Read first: once the run goes on in a new epoch, the old epoch's timeout job ends itself.
  const firesAt = await queues.runTimeoutAt(runId, run.epoch);
  const result = await ledger
    .recoverNode(
      { runId, pipelineId: plan.pipelineId, nodeId },
      { action: recovery.action, outputs, key: requestId ?? "" },
      node,
    )
    .catch((error: unknown) => {
      throw refusal(error, runId, nodeId) ?? error;
    });
  await queues.promoteWaiters(result.woken);
  if (result.outcome === "resumed") {
    // Left to the run job if this fails (run-start.lua tells it the reset is unfinished), and the
    // run job to the sweeper (the run is running again).
    const nodeIds = plan.nodes.map((candidate) => candidate.id);
    await ledger.finishReset(runId, plan.pipelineId, result.epoch, nodeIds).catch(() => undefined);
    await queues.carryRunTimeout(runId, plan.pipelineId, firesAt, { from: run.epoch, to: result.epoch });
    await wakeRunJob(queues, runId, plan.pipelineId);
  }
  return result.status as RunStatus;
}

/** The successors' inputs that map one of the node's outputs. */
function outputTakers(plan: Plan, nodeId: string): { node: string; output: string }[] {
  return plan.nodes.flatMap((candidate) =>
    candidate.inputs
      .filter((input) => input.sourceNode === nodeId)
      .map((input) => ({ node: candidate.id, output: input.sourceOutput })),
  );
}

function checkOutputs(
  catalog: DeviceCatalog,
  node: PlanNode,
  outputs: Record<string, unknown>,
  takers: readonly { output: string }[],
): void {
  const declared = Object.keys(catalog.functionOf(node.driver, node.functionId)?.outputs ?? {});
  const unknown = Object.keys(outputs).filter((name) => !declared.includes(name));
  if (unknown.length > 0) {
    throw new RigflowError(
      "VALIDATION_FAILED",
      `outputs: '${unknown[0]}' is not an output of ${node.functionId} (it has ${declared.join(", ") || "none"})`,
      { field: `outputs.${unknown[0]}`, declared },
    );
  }
  const missing = [...new Set(takers.map((taker) => taker.output))].filter((name) => !(name in outputs));
  if (missing.length > 0) {
    throw new RigflowError("VALIDATION_FAILED", `outputs: '${missing[0]}' is missing; a successor takes it`, {
      field: `outputs.${missing[0]}`,
      needed: missing,
    });
  }
}

/** The script's refusals as the API's errors. */
function refusal(error: unknown, runId: string, nodeId: string): RigflowError | null {
  const message = error instanceof Error ? error.message : "";
  const notHeld = /NODE_NOT_HELD (\w+)/.exec(message);
  if (notHeld) {
    return new RigflowError(
      "NODE_NOT_HELD",
      `node '${nodeId}' is ${notHeld[1]}; only a held node can be recovered`,
      {
        run_id: runId,
        node_id: nodeId,
        node_status: notHeld[1],
      },
    );
  }
  const notResting = /RUN_NOT_RESTING (\w+)/.exec(message);
  if (notResting) {
    const status = notResting[1];
    const why =
      status === "running" || status === "queued"
        ? "its other running nodes finish first; recover it once the run is held"
        : "retry the run to run its held nodes again";
    return new RigflowError("RUN_NOT_RESTING", `run ${runId} is ${status}: ${why}`, {
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
