import type { RetryPolicy } from "./retry.js";

/** A validated pipeline compiled for running: what each node needs, by node id. Stored with a run. */
export interface PlanNode {
  id: string;
  deviceId: string;
  driver: string;
  functionId: string;
  params: Record<string, unknown>;
  /** Upstream outputs that become this node's inputs when it is released. */
  inputs: { input: string; sourceNode: string; sourceOutput: string }[];
  predecessors: string[];
  successors: string[];
  retry: RetryPolicy;
  timeoutMs: number;
  idempotent: boolean;
}

export interface Plan {
  pipelineId: string;
  pipelineName: string;
  /** Nodes in a topological order. */
  nodes: PlanNode[];
  /** The run holds its devices while it has nodes left on them (see node-begin.lua). */
  reserveDevices: boolean;
  /** The run is stopped, and fails RUN_TIMEOUT, this long after it is submitted (or resumed). */
  timeoutMs?: number;
}

export interface Limits {
  maxNodes: number;
  maxParamsBytes: number;
}

export const defaultLimits: Limits = { maxNodes: 1000, maxParamsBytes: 16 * 1024 };
