import { expect } from "vitest";
import type { Engine, RunEvent, RunState, RunStatus } from "../../src/engine/index.js";

/** Submits a pipeline document and waits (on its event stream) for the run to end. */
export async function runToEnd(engine: Engine, document: unknown, timeoutMs = 20_000): Promise<RunState> {
  const { runId } = await engine.submitRun({ document });
  return engine.waitForRun(runId, timeoutMs);
}

/** Checks the DAG contract on a finished run: every node ran once, after all its predecessors. */
export async function expectRanInOrder(
  engine: Engine,
  run: RunState,
  edges: { source: string; target: string }[],
): Promise<RunEvent[]> {
  expect(run.status).toBe("completed");
  const events = await engine.runEvents(run.runId);
  const executions = events.filter((event) => event.type === "node_executing");
  for (const node of run.nodes) {
    expect(node.status).toBe("completed");
    expect(node.attempts).toBe(1);
    expect(executions.filter((event) => "node_id" in event && event.node_id === node.nodeId)).toHaveLength(1);
  }
  const byId = new Map(run.nodes.map((node) => [node.nodeId, node]));
  for (const { source, target } of edges) {
    const before = byId.get(source)?.finishedAt ?? "";
    const after = byId.get(target)?.startedAt ?? "";
    expect(after >= before, `${target} started ${after}, before ${source} finished ${before}`).toBe(true);
  }
  return events;
}

/** Resolves once the run's first node is running (a command under way). */
export async function untilFirstNodeRuns(engine: Engine, runId: string): Promise<void> {
  await expect
    .poll(async () => (await engine.getRun(runId)).nodes[0]?.status, { timeout: 10_000, interval: 20 })
    .toBe("running");
}

/** Resolves once the run's status is `status` (polled: a run comes to rest without an event of its own). */
export function untilRunStatus(engine: Engine, runId: string, status: RunStatus): Promise<void> {
  return expect
    .poll(async () => (await engine.getRun(runId)).status, { timeout: 10_000, interval: 10 })
    .toBe(status);
}
