import type { ApprovalSpec } from "./document.js";
import type { RetryPolicy } from "./retry.js";

/** A validated pipeline compiled for running: what each node needs, by node id. Stored with a run. */
export interface PlanNode {
  id: string;
  /** "" for an approval node: it runs on no device (its job is in the runs queue). */
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
  /** "hold": its last failed attempt holds it for a person rather than failing the run. Absent: "fail". */
  onFailure?: "hold";
  /** An approval node's prompt and outputs; its timeoutMs is how long it waits (0: no limit of its own). */
  approval?: ApprovalSpec;
}

export interface Plan {
  pipelineId: string;
  pipelineName: string;
  /** Nodes in a topological order. */
  nodes: PlanNode[];
  /** The run holds its devices while it has nodes left on them (see node-begin.lua). */
  reserveDevices: boolean;
  /**
   * The run is stopped, and fails RUN_TIMEOUT, this long after it is submitted (or resumed). Every
   * plan compiled now has one; a run stored before limits existed may not.
   */
  timeoutMs?: number;
}

/**
 * What one request may ask of the system (docs/contract.md, "Bounded resources"): no document can
 * hold a device for days of attempts, or leave a run without an end.
 */
export interface Limits {
  maxNodes: number;
  maxParamsBytes: number;
  /** The longest `timeout_ms` a node may ask (MAX_NODE_TIMEOUT_MS). */
  maxNodeTimeoutMs: number;
  /** The most `retry.attempts` a node may ask (MAX_ATTEMPTS). */
  maxAttempts: number;
  /** The longest `timeout_ms` a run may ask (MAX_RUN_TIMEOUT_MS). */
  maxRunTimeoutMs: number;
  /** The run timeout of a run that asks none (DEFAULT_RUN_TIMEOUT_MS): every run ends. */
  defaultRunTimeoutMs: number;
  /** Runs not ended (queued, running, and later paused and held) a submission may join (MAX_ACTIVE_RUNS). */
  maxActiveRuns: number;
}

export const defaultLimits: Limits = {
  maxNodes: 10_000,
  maxParamsBytes: 16 * 1024,
  maxNodeTimeoutMs: 3_600_000,
  maxAttempts: 10,
  maxRunTimeoutMs: 86_400_000,
  defaultRunTimeoutMs: 86_400_000,
  maxActiveRuns: 10_000,
};
