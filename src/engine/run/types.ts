export type RunStatus = "queued" | "running" | "completed" | "failed" | "cancelled";
export type NodeStatus = "pending" | "queued" | "running" | "completed" | "failed" | "cancelled";

export const endedRunStatuses: ReadonlySet<RunStatus> = new Set(["completed", "failed", "cancelled"]);

export interface NodeError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export interface NodeState {
  nodeId: string;
  deviceId: string;
  functionId: string;
  status: NodeStatus;
  attempts: number;
  outputs: Record<string, unknown> | null;
  error: NodeError | null;
  startedAt: string | null;
  finishedAt: string | null;
  executionTime: number | null;
}

export interface RunState {
  runId: string;
  pipelineId: string;
  pipelineVersion: number | null;
  pipelineName: string;
  status: RunStatus;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  executionTime: number | null;
  error: (NodeError & { nodeId: string | null }) | null;
  nodes: NodeState[];
}

export interface RunSummary {
  runId: string;
  pipelineId: string;
  pipelineVersion: number | null;
  status: RunStatus;
  createdAt: string;
  finishedAt: string | null;
}
