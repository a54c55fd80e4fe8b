import type { Redis } from "ioredis";
import type { PlanNode } from "../pipeline/plan.js";
import { eventJson, type RunEventBody } from "../run/events.js";
import type { NodeError } from "../run/types.js";
import { defaultEventRetention, globalEventStreamLength, type EventRetention } from "./event-retention.js";
import type { RedisKeys } from "./keys.js";

/** One node of one epoch of a run. */
interface NodeRef {
  runId: string;
  pipelineId: string;
  nodeId: string;
  epoch: number;
}
import { loadScripts } from "./scripts.js";

/** What an approval's job finds when it comes up (approval-wait.lua). */
export type ApprovalWait =
  /** It waits for a person until `deadline` (ms since the epoch; null: no limit of its own). */
  | { kind: "wait"; deadline: number | null }
  /** A person approved it: the successors its approval released, whose jobs are to be added. */
  | { kind: "done"; released: string[] }
  /**
   * It timed out now, or a rejection or timeout ended it before: what follows a failure (the
   * nodes not begun end) or a hold (the queued nodes' jobs leave) is to be done, or done again.
   */
  | { kind: "ended"; as: "failed" | "held" }
  /** The run rests (paused, held): it stays queued, and waits afresh when the run goes on. */
  | { kind: "rest" }
  /** The run is stopping: it ended cancelled, as a node that never began. */
  | { kind: "skip" }
  /** An older epoch's job, or a node that has ended otherwise (rejected, timed out). */
  | { kind: "stale" };

/** A person's decision on a waiting approval. */
export type ApprovalDecision =
  { action: "approve"; outputs: Record<string, unknown> } | { action: "reject"; reason: string };

/**
 * The ledger's side of approval nodes: each step is one script (approval-*.lua) that also appends
 * the event it implies, as the run ledger's are.
 */
export class ApprovalLedger {
  private readonly scripts;

  constructor(
    redis: Redis,
    private readonly keys: RedisKeys,
    private readonly retention: EventRetention = defaultEventRetention,
  ) {
    this.scripts = loadScripts(redis);
  }

  /**
   * The approval's job has come up: it begins or goes on waiting, fails (or is held) past its
   * deadline, or ends as its run decides.
   */
  async wait(
    ref: NodeRef,
    node: PlanNode,
    haltErrors: { cancelled: NodeError; failed: NodeError; timeout: NodeError },
  ): Promise<ApprovalWait> {
    const nowMs = Date.now();
    const deadline = node.timeoutMs > 0 ? nowMs + node.timeoutMs : null;
    const timedOutAs = node.onFailure === "hold" ? "held" : "failed";
    const timeoutError = {
      code: "APPROVAL_TIMEOUT",
      message: `no one approved or rejected it within its timeout_ms (${node.timeoutMs} ms)`,
    };
    const timeoutEvent = this.event(ref, {
      type: timedOutAs === "held" ? "node_held" : "node_failed",
      node_id: ref.nodeId,
      error_message: timeoutError.message,
      error_type: timeoutError.code,
    });
    const event = this.event(ref, {
      type: "node_waiting",
      node_id: ref.nodeId,
      message: node.approval?.message ?? "",
      outputs: node.approval?.outputs ?? {},
      timeout_at: deadline === null ? null : new Date(deadline).toISOString(),
    });
    const [kind, value] = (await this.scripts["approval-wait"](
      [
        this.keys.run(ref.runId),
        this.keys.runNodes(ref.runId),
        this.keys.runEvents(ref.runId),
        this.keys.events,
        this.keys.runsByStatusPrefix,
      ],
      [
        ref.nodeId,
        ref.epoch,
        new Date(nowMs).toISOString(),
        nowMs,
        deadline ?? "",
        event,
        globalEventStreamLength,
        this.retention.runEventsMax,
        JSON.stringify(haltErrors.cancelled),
        JSON.stringify(haltErrors.failed),
        JSON.stringify(haltErrors.timeout),
        timedOutAs,
        JSON.stringify(timeoutError),
        timeoutEvent,
        node.timeoutMs / 1000,
      ],
    )) as [string, string | undefined];
    if (kind === "wait") return { kind, deadline: value ? Number(value) : null };
    if (kind === "done") return { kind, released: JSON.parse(value ?? "[]") as string[] };
    if (kind === "ended") return { kind, as: value === "held" ? "held" : "failed" };
    if (kind === "rest" || kind === "skip") return { kind };
    return { kind: "stale" };
  }

  /**
   * Records a person's decision on a waiting approval (approval-decide.lua). Throws the script's
   * refusal (RUN_NOT_FOUND, NODE_NOT_WAITING, RUN_NOT_GOING_ON) as its message.
   */
  async decide(
    ref: { runId: string; pipelineId: string; nodeId: string },
    node: PlanNode,
    decision: ApprovalDecision,
    /** The request's Idempotency-Key, or "" (the script names the decision itself). */
    key: string,
  ): Promise<{ outcome: "decided" | "again"; nodeStatus: string; runStatus: string; epoch: number }> {
    const rejectedAs = node.onFailure === "hold" ? "held" : "failed";
    const error = {
      code: "REJECTED",
      message: `rejected: ${decision.action === "reject" ? decision.reason : ""}`,
    };
    const body: RunEventBody =
      decision.action === "approve"
        ? {
            type: "node_completed",
            node_id: ref.nodeId,
            // Filled in by the script, which knows how long the node waited: before the outputs,
            // so that the first "execution_time":-1 in the JSON is this one.
            execution_time: -1,
            outputs: decision.outputs,
            completed_by: "operator",
          }
        : {
            type: rejectedAs === "held" ? "node_held" : "node_failed",
            node_id: ref.nodeId,
            error_message: error.message,
            error_type: error.code,
          };
    const nowMs = Date.now();
    const [outcome, nodeStatus, runStatus, epoch] = (await this.scripts["approval-decide"](
      [
        this.keys.run(ref.runId),
        this.keys.runNodes(ref.runId),
        this.keys.runOutputs(ref.runId),
        this.keys.runEvents(ref.runId),
        this.keys.events,
        this.keys.runsByStatusPrefix,
      ],
      [
        ref.nodeId,
        decision.action,
        JSON.stringify(decision.action === "approve" ? decision.outputs : error),
        new Date(nowMs).toISOString(),
        nowMs,
        key,
        this.event(ref, body),
        rejectedAs,
        globalEventStreamLength,
        this.retention.runEventsMax,
        ...node.successors,
      ],
    )) as ["decided" | "again", string, string, number];
    return { outcome, nodeStatus, runStatus, epoch: Number(epoch) };
  }

  /** Puts a resting run's waiting approvals back to queued (approvals-rest.lua); returns how many. */
  async rest(runId: string, epoch: number, nodeIds: readonly string[]): Promise<number> {
    if (nodeIds.length === 0) return 0;
    return (await this.scripts["approvals-rest"](
      [this.keys.run(runId), this.keys.runNodes(runId), this.keys.runsByStatusPrefix],
      [epoch, ...nodeIds],
    )) as number;
  }

  private event(ref: { runId: string; pipelineId: string }, body: RunEventBody): string {
    return eventJson(
      { run_id: ref.runId, pipeline_id: ref.pipelineId, timestamp: new Date().toISOString() },
      body,
    );
  }
}
