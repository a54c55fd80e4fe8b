// Ledger writes a worker makes, done by hand, for tests that put a run's ledger in a given state
// (a node begun, a completion resent) without a worker in the way.
import type { RunLedger } from "../../src/engine/redis/run-ledger.js";

/**
 * A node as a worker refers to it in the ledger. No fence: like the orchestrator's writes, these
 * are never refused.
 */
export const nodeRef = (
  runId: string,
  pipelineId: string,
  nodeId: string,
  deviceId = "servo-1",
  epoch = 0,
) => ({
  runId,
  pipelineId,
  nodeId,
  epoch,
  deviceId,
  fence: "",
});

/** What a worker does to start a node: the node is running in the ledger (attempt 1, idempotent). */
export async function beginByHand(
  ledger: RunLedger,
  ref: ReturnType<typeof nodeRef>,
  functionId = "move",
  jobId = ref.nodeId,
) {
  const body = {
    type: "node_executing",
    node_id: ref.nodeId,
    node_type: "device",
    function_id: functionId,
    device_id: ref.deviceId,
    attempt: 1,
  } as const;
  const skip = { code: "CANCELLED", message: "skip" };
  await ledger.beginNode(
    { ...ref, jobId, idempotent: true },
    1,
    body,
    { cancelled: skip, failed: skip, timeout: skip },
    [],
    null,
  );
  return ref;
}
