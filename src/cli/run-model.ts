import type { FullRunWire, NodeStatus, RunEvent, RunStatus } from "./wire.js";

/** What the watch display shows of one node, kept current by the run's events. */
export interface NodeModel {
  nodeId: string;
  /** Null for an approval node: it drives no device. */
  deviceId: string | null;
  functionId: string;
  status: NodeStatus;
  /** The attempt under way or last made (0 before the first). */
  attempt: number;
  progress: number | null;
  message: string | null;
  /** When the current attempt began (ms since the epoch), for a running node's duration. */
  startedAt: number | null;
  executionTime: number | null;
  /** "CODE: message" of the last failure; shown while failed, cancelled or waiting to retry. */
  error: string | null;
  /** When a node waiting out a retry's backoff starts its next attempt. */
  retryAt: number | null;
  /** An approval node's prompt and the outputs it asks for (name -> type); null for a device's. */
  approval: { message: string; outputs: Record<string, string> } | null;
}

/** What a node calls, as its line shows it: `move@servo-1`, or `approval` (no device). */
export const callText = (node: NodeModel): string =>
  node.deviceId === null ? node.functionId : `${node.functionId}@${node.deviceId}`;

export interface RunModel {
  runId: string;
  pipelineId: string;
  pipelineName: string | null;
  status: RunStatus;
  startedAt: number | null;
  executionTime: number | null;
  error: { code: string; message: string; nodeId: string | null } | null;
  /** In the pipeline's order. */
  nodes: Map<string, NodeModel>;
}

const time = (iso: string | null): number | null => (iso === null ? null : Date.parse(iso));

/** The model of a run as GET /api/runs/{id} shows it. */
export function modelFromRun(run: FullRunWire, pipelineName: string | null = null): RunModel {
  const nodes = new Map<string, NodeModel>();
  for (const node of Object.values(run.nodes)) {
    nodes.set(node.node_id, {
      nodeId: node.node_id,
      deviceId: node.device_id,
      functionId: node.function_id,
      status: node.status,
      attempt: node.attempts,
      progress: node.status === "completed" ? 1 : null,
      message: null,
      startedAt: time(node.started_at),
      executionTime: node.execution_time,
      error: node.error && `${node.error.code}: ${node.error.message}`,
      retryAt: null,
      approval: node.approval ? { message: node.approval.message, outputs: node.approval.outputs } : null,
    });
  }
  return {
    runId: run.run_id,
    pipelineId: run.pipeline_id,
    pipelineName,
    status: run.status,
    startedAt: time(run.started_at),
    executionTime: run.execution_time,
    error: run.error && { code: run.error.code, message: run.error.message, nodeId: run.error.node_id },
    nodes,
  };
}

/** Brings the model up to date with one event (replayed or live, in the run's order). */
export function applyEvent(model: RunModel, event: RunEvent): void {
  const at = Date.parse(event.timestamp);
  switch (event.type) {
    case "pipeline_started":
      model.status = "running";
      model.pipelineName = event.pipeline_name;
      model.startedAt ??= at;
      return;
    case "pipeline_resumed":
      model.status = "running";
      model.startedAt = at;
      model.executionTime = null;
      model.error = null;
      // A retry runs failed, cancelled and held nodes again; an unpause or a recovery, queued ones.
      if (event.reason === "unpaused" || event.reason === "recovered") return;
      for (const node of model.nodes.values()) {
        if (node.status === "failed" || node.status === "cancelled" || node.status === "held") {
          Object.assign(node, aboutToRun);
        }
      }
      return;
    case "pipeline_paused":
      model.status = "paused";
      putApprovalsBack(model);
      return;
    case "pipeline_held":
      model.status = "held";
      putApprovalsBack(model);
      return;
    case "pipeline_completed":
      model.status = "completed";
      model.executionTime = event.execution_time;
      return;
    case "pipeline_error":
      model.status = "failed";
      model.error = { code: event.error_type, message: event.error_message, nodeId: event.node_id };
      return;
    case "pipeline_cancelled":
      model.status = "cancelled";
      return;
    case "node_executing":
      Object.assign(nodeOf(model, event.node_id, event.device_id, event.function_id), {
        ...aboutToRun,
        status: "running",
        attempt: event.attempt,
        startedAt: at,
      });
      return;
    case "node_progress":
      Object.assign(nodeOf(model, event.node_id), { progress: event.progress, message: event.message });
      return;
    case "node_completed":
      Object.assign(nodeOf(model, event.node_id), {
        status: "completed",
        progress: 1,
        executionTime: event.execution_time,
        error: null,
      });
      return;
    case "node_retrying":
      Object.assign(nodeOf(model, event.node_id), {
        status: "queued",
        attempt: event.attempt - 1,
        error: event.error_message,
        retryAt: at + event.delay_ms,
      });
      return;
    case "node_held": {
      Object.assign(nodeOf(model, event.node_id), {
        status: "held",
        error: `${event.error_type}: ${event.error_message}`,
      });
      return;
    }
    case "node_skipped":
      Object.assign(nodeOf(model, event.node_id), { status: "skipped", progress: null });
      return;
    case "node_waiting":
      Object.assign(nodeOf(model, event.node_id, null, "approval"), {
        ...aboutToRun,
        status: "waiting",
        startedAt: at,
        approval: { message: event.message, outputs: event.outputs },
      });
      return;
    case "node_failed": {
      const node = nodeOf(model, event.node_id);
      node.status = "failed";
      node.error = `${event.error_type}: ${event.error_message}`;
      if (node.startedAt !== null) node.executionTime = Math.max(0, at - node.startedAt) / 1000;
      return;
    }
  }
}

/**
 * A run at rest (paused, held) puts its waiting approvals back to queued, with no event of their
 * own: each waits afresh (a new node_waiting) once the run goes on.
 */
function putApprovalsBack(model: RunModel): void {
  for (const node of model.nodes.values()) if (node.status === "waiting") Object.assign(node, aboutToRun);
}

/** A node about to run (again): nothing of its last attempt shown. */
const aboutToRun = { status: "queued", progress: null, message: null, error: null, retryAt: null } as const;

function nodeOf(model: RunModel, nodeId: string, deviceId: string | null = "?", functionId = "?"): NodeModel {
  let node = model.nodes.get(nodeId);
  if (!node) {
    // Not in the snapshot (it should be): shown at the end rather than dropped.
    node = {
      nodeId,
      deviceId,
      functionId,
      attempt: 0,
      startedAt: null,
      executionTime: null,
      approval: null,
      ...aboutToRun,
    };
    model.nodes.set(nodeId, node);
  }
  return node;
}
