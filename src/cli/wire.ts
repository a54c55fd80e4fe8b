import type { NodeState, RunEvent, RunStatus } from "../engine/index.js";
// The list itself, from the engine's types module alone (no Redis nor BullMQ comes with it).
import { runStatuses } from "../engine/run/types.js";

// The API's JSON as the CLI reads it (docs/contract.md). Only types come from the engine: the
// CLI is a client of the HTTP API and the WebSocket, and never runs engine code.

export type { RunEvent, RunStatus };
export type NodeStatus = NodeState["status"];

export interface WireError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

/** What an approval node asks of a person: its prompt, its outputs (name -> type), its deadline. */
export interface ApprovalWire {
  message: string;
  /** Each output's type: "string", "number", "boolean" or "any". */
  outputs: Record<string, string>;
  /** While it waits: when it fails APPROVAL_TIMEOUT (null: no limit of its own). */
  timeout_at: string | null;
}

export interface NodeWire {
  node_id: string;
  /** Null for an approval node: it drives no device. */
  device_id: string | null;
  function_id: string;
  /** Only on an approval node. */
  type?: "approval";
  approval?: ApprovalWire;
  completed_by?: "operator";
  status: NodeStatus;
  attempts: number;
  outputs: Record<string, unknown> | null;
  error: WireError | null;
  started_at: string | null;
  finished_at: string | null;
  execution_time: number | null;
}

/** GET /api/runs/{run_id} */
export interface RunWire {
  run_id: string;
  pipeline_id: string;
  pipeline_version: number | null;
  status: RunStatus;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  execution_time: number | null;
  error: (WireError & { node_id: string | null }) | null;
  node_count: number;
  node_counts: Record<NodeStatus, number>;
  /** Null for a run of more than 1,000 nodes: read them from GET /api/runs/{id}/nodes, by pages. */
  nodes: Record<string, NodeWire> | null;
}

/** A run with every node, its pages read in (watch.ts, fetchRun). */
export type FullRunWire = RunWire & { nodes: Record<string, NodeWire> };

/** GET /api/runs/{run_id}/nodes */
export interface NodePageWire {
  nodes: NodeWire[];
  next_cursor: string | null;
}

/** One row of GET /api/runs */
export interface RunSummaryWire {
  run_id: string;
  pipeline_id: string;
  pipeline_version: number | null;
  status: RunStatus;
  created_at: string;
  finished_at: string | null;
}

export interface RunListWire {
  runs: RunSummaryWire[];
  next_cursor: string | null;
}

/** POST /api/runs */
export interface SubmittedWire {
  run_id: string;
  status: RunStatus;
  pipeline_id: string;
}

export { runStatuses };

/** What GET /api/runs?status= filters on: a run status, or "waiting" (an approval waits for a person). */
export const runFilters = [...runStatuses, "waiting"] as const;
export type RunFilter = (typeof runFilters)[number];

/** The decision answer of POST .../nodes/{node_id}/approve and .../reject. */
export interface DecisionWire {
  run_id: string;
  node_id: string;
  decision: "approve" | "reject";
  /** completed (approved), failed (rejected), or held (rejected, its on_failure is hold). */
  node_status: NodeStatus;
  status: RunStatus;
}

export const hasEnded = (status: RunStatus): boolean =>
  status === "completed" || status === "failed" || status === "cancelled";

/** The event that ends a run (until a retry resumes it). */
export const endsRun = (event: RunEvent): boolean =>
  event.type === "pipeline_completed" ||
  event.type === "pipeline_error" ||
  event.type === "pipeline_cancelled";

/** Orders two event ids ("<ms>-<seq>", Redis stream ids): negative, zero or positive. */
export function compareEventIds(a: string, b: string): number {
  const [aMs = 0n, aSeq = 0n] = a.split("-").map(BigInt);
  const [bMs = 0n, bSeq = 0n] = b.split("-").map(BigInt);
  if (aMs !== bMs) return aMs < bMs ? -1 : 1;
  return aSeq === bSeq ? 0 : aSeq < bSeq ? -1 : 1;
}
