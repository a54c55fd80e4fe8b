import type { NodeRef, RunLedger } from "./run-ledger.js";

/**
 * Goes on with a completed node's release of its successors from position `from` to the last,
 * batch by batch (node-release.lua), adding each batch's released jobs before asking for the next:
 * the first successors start while the rest are released, and no one script or add holds Redis
 * long. Whoever finds a release stopped part-way carries it on: the worker that completed the node,
 * its job come back after a crash, or the run job (orchestrator.ts). Stops at a batch the ledger
 * refuses (the run was resumed meanwhile: its new epoch's run job carries the release on).
 */
export async function releaseRest(
  ledger: RunLedger,
  ref: NodeRef,
  successors: readonly string[],
  from: number,
  add: (released: readonly string[]) => Promise<void>,
): Promise<void> {
  for (let next = from; next > 0;) {
    const step = await ledger.releaseMore(ref, successors, next);
    if (!step) return;
    await add(step.released);
    next = step.next;
  }
}
