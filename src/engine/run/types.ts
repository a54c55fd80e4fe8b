/**
 * `paused` and `held` are resting states: no node runs and none starts until a person acts (a
 * resume, a node's recovery) or cancels the run. Neither has ended.
 */
export const runStatuses = [
  "queued",
  "running",
  "paused",
  "held",
  "completed",
  "failed",
  "cancelled",
] as const;
export type RunStatus = (typeof runStatuses)[number];
/**
 * `held`: the node's command failed, or was stopped part-way, and a person decides what follows;
 * `skipped`: a person chose to go on without it (it counts as done for its successors);
 * `waiting`: an approval node waits for a person to approve or reject it.
 */
export const nodeStatuses = [
  "pending",
  "queued",
  "running",
  "completed",
  "failed",
  "cancelled",
  "held",
  "skipped",
  "waiting",
] as const;
export type NodeStatus = (typeof nodeStatuses)[number];

/** How many of a run's nodes are in each status. */
export type NodeCounts = Record<NodeStatus, number>;

/** How many of `nodes` are in each status. */
export function countsOf(nodes: readonly { status: NodeStatus }[]): NodeCounts {
  const counts = Object.fromEntries(nodeStatuses.map((status) => [status, 0])) as NodeCounts;
  for (const node of nodes) counts[node.status] += 1;
  return counts;
}

/** A deferred pause lets running commands finish; an immediate one stops them through their drivers. */
export type PauseMode = "deferred" | "immediate";

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
  /** Set when a person completed the node (recovered a held one, or approved an approval). */
  completedBy?: "operator";
  /** An approval node's prompt, the outputs it asks, and while it waits, when it times out. */
  approval?: { message: string; outputs: Record<string, string>; timeoutAt: string | null };
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

/**
 * A run as `GET /api/runs/{id}` shows it: its node counts always, and its nodes' states when it
 * has few enough (`nodes` null for a larger one: they are read by pages).
 */
export interface RunOverview extends Omit<RunState, "nodes"> {
  nodeCount: number;
  nodeCounts: NodeCounts;
  nodes: NodeState[] | null;
}

export interface RunSummary {
  runId: string;
  pipelineId: string;
  pipelineVersion: number | null;
  status: RunStatus;
  createdAt: string;
  finishedAt: string | null;
}
