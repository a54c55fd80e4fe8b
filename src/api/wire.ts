import type { NodeState, RunOverview, RunState, RunSummary } from "../engine/index.js";

// The one place where the engine's camelCase becomes the wire's snake_case.

export function nodeView(node: NodeState) {
  return {
    node_id: node.nodeId,
    // An approval node has no device.
    device_id: node.deviceId || null,
    function_id: node.functionId,
    ...(node.approval && { type: "approval" as const }),
    status: node.status,
    attempts: node.attempts,
    outputs: node.outputs,
    error: node.error,
    started_at: node.startedAt,
    finished_at: node.finishedAt,
    execution_time: node.executionTime,
    ...(node.completedBy && { completed_by: node.completedBy }),
    ...(node.approval && {
      approval: {
        message: node.approval.message,
        outputs: node.approval.outputs,
        timeout_at: node.approval.timeoutAt,
      },
    }),
  };
}

/**
 * `GET /api/runs/{id}`: the run, its node counts, and `nodes` keyed by node id, or null for a run
 * of more than 1,000 nodes, whose nodes are read by pages (`GET /api/runs/{id}/nodes`).
 */
export function runView(run: RunOverview) {
  return {
    run_id: run.runId,
    pipeline_id: run.pipelineId,
    pipeline_version: run.pipelineVersion,
    status: run.status,
    created_at: run.createdAt,
    started_at: run.startedAt,
    finished_at: run.finishedAt,
    execution_time: run.executionTime,
    error: run.error && {
      code: run.error.code,
      message: run.error.message,
      node_id: run.error.nodeId,
      ...(run.error.details && { details: run.error.details }),
    },
    node_count: run.nodeCount,
    node_counts: run.nodeCounts,
    nodes: run.nodes && Object.fromEntries(run.nodes.map((node) => [node.nodeId, nodeView(node)])),
  };
}

export function runSummaryView(run: RunSummary) {
  return {
    run_id: run.runId,
    pipeline_id: run.pipelineId,
    pipeline_version: run.pipelineVersion,
    status: run.status,
    created_at: run.createdAt,
    finished_at: run.finishedAt,
  };
}

/** The seed's answer to POST /api/pipelines/execute, for a run that has ended. */
export function seedExecuteView(run: RunState) {
  const completed = run.nodes.filter((node) => node.status === "completed");
  return {
    success: run.status === "completed",
    run_id: run.runId,
    pipeline_id: run.pipelineId,
    status: run.status,
    execution_time: run.executionTime ?? 0,
    nodes_executed: completed.length,
    results: Object.fromEntries(
      run.nodes.map((node) => [
        node.nodeId,
        { node_id: node.nodeId, status: node.status, outputs: node.outputs ?? {} },
      ]),
    ),
    ...(run.error && {
      error: { code: run.error.code, message: run.error.message, node_id: run.error.nodeId },
    }),
  };
}
