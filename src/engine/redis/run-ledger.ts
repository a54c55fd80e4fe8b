import { randomUUID } from "node:crypto";
import { ApprovalLedger } from "./approval-ledger.js";
import type { Redis } from "ioredis";
import { eventJson, type RunEventBody } from "../run/events.js";
import type { NodeError, PauseMode } from "../run/types.js";
import { defaultEventRetention, globalEventStreamLength, type EventRetention } from "./event-retention.js";
import type { RedisKeys } from "./keys.js";
import { loadScripts } from "./scripts.js";

/** A node as one job sees it: `epoch` is the run's epoch when the job was added (see run-resume.lua). */
export interface NodeRef {
  runId: string;
  pipelineId: string;
  nodeId: string;
  epoch: number;
}

/**
 * A node as the worker driving its device sees it: `fence` is the worker's fencing token for the
 * device's lease (device-lease-hold.lua); the ledger refuses a write whose token is stale. The
 * orchestrator, which drives no device, passes "".
 */
export interface FencedNodeRef extends NodeRef {
  deviceId: string;
  fence: string;
}

/** What node-fail.lua did: halted the run, ended the node only, nothing (ended already), or refused. */
export type FailOutcome = "halted" | "ended" | "ignored" | "fenced";

export type BeginResult =
  /** `startedAt`: the attempt's started_at, which names it in the ledger (see HeldCompletion). */
  | { kind: "run"; upstreamOutputs: (Record<string, unknown> | null)[]; startedAt: string }
  /** Completed before; `releaseNext` > 0 if its release of successors stopped part-way there. */
  | { kind: "done"; releaseNext: number }
  | { kind: "skip" }
  /** The run is paused or held: the node stays queued, and its job ends without running. */
  | { kind: "rest" }
  | { kind: "stale" }
  | { kind: "wait"; deviceId: string; holder: string }
  | { kind: "fenced" }
  | { kind: "interrupted" };

/** A reserving run's nodes, by device: what node-begin.lua needs to take the run's devices. */
export type ReservationSpec = readonly (readonly [deviceId: string, nodeIds: readonly string[]])[];

/**
 * A command's end as the worker that ran it holds it until the ledger has it: the attempt it ended
 * (its started_at, as node-begin wrote it), when it ended, and an id of its own, so that writing it
 * again after a refused write answers as the first write did.
 */
export interface HeldCompletion {
  startedAt: string;
  finishedAt: string;
  id: string;
}

/**
 * A node's completion: the successors it released, jobs to wake if it ended a reservation, and
 * where its release goes on (`next`, a position among its successors; 0 when it is done).
 */
export interface Completion extends ReleaseStep {
  woken: string[];
}

/** One batch of a completed node's release: whom it released, where the next batch starts (0: none). */
export interface ReleaseStep {
  released: string[];
  next: number;
}

/**
 * Successors one node-complete or node-release call looks at: a node with 5,000 successors took
 * 36-54 ms of Redis's time in one call (npm run bench -- scale); 500 take a few ms.
 */
export const successorBatch = 500;

/** Nodes one nodes-release or nodes-cancel script looks at: a few milliseconds of Redis's time. */
const releaseBatch = 250;

/**
 * The run ledger: per-run state in Redis advanced only by atomic, idempotent Lua scripts, each of
 * which also appends the event it implies, so that state and events never disagree.
 */
export class RunLedger {
  private readonly scripts;
  /** The approval nodes' steps (approval-ledger.ts). */
  readonly approvals: ApprovalLedger;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly retention: EventRetention = defaultEventRetention,
  ) {
    this.scripts = loadScripts(redis);
    this.approvals = new ApprovalLedger(redis, keys, retention);
  }

  async startRun(
    runId: string,
    pipelineId: string,
    body: RunEventBody,
  ): Promise<{ status: string; halt: string; resetting: string }> {
    const [status, halt, resetting] = (await this.scripts["run-start"](
      [
        this.keys.run(runId),
        this.keys.runEvents(runId),
        this.keys.events,
        this.keys.runsByStatusPrefix,
        this.keys.endedRuns,
      ],
      [now(), this.event(runId, pipelineId, body), globalEventStreamLength, this.retention.runEventsMax],
    )) as [string, string, string];
    return { status, halt, resetting };
  }

  async beginNode(
    ref: FencedNodeRef & { jobId: string; idempotent: boolean },
    attempt: number,
    body: RunEventBody,
    skipErrors: { cancelled: NodeError; failed: NodeError; timeout: NodeError },
    upstream: readonly string[],
    reservation: ReservationSpec | null,
  ): Promise<BeginResult> {
    const startedAt = now();
    const result = (await this.scripts["node-begin"](this.nodeKeys(ref.runId, ref.deviceId), [
      ref.nodeId,
      ref.epoch,
      startedAt,
      attempt,
      this.event(ref.runId, ref.pipelineId, body),
      globalEventStreamLength,
      JSON.stringify(skipErrors.cancelled),
      JSON.stringify(skipErrors.failed),
      JSON.stringify(skipErrors.timeout),
      ref.deviceId,
      `${ref.deviceId}|${ref.jobId}`,
      ref.idempotent ? "1" : "0",
      this.retention.runEventsMax,
      ref.fence,
      upstream.length,
      ...upstream,
      ...(reservation ?? []).flatMap(([deviceId, nodeIds]) => [deviceId, nodeIds.length, ...nodeIds]),
    ])) as string[];
    const [kind, ...rest] = result;
    if (kind === "run") {
      return {
        kind,
        upstreamOutputs: rest.map((json) => JSON.parse(json) as Record<string, unknown> | null),
        startedAt,
      };
    }
    if (kind === "wait") return { kind, deviceId: rest[0] ?? "", holder: rest[1] ?? "" };
    if (kind === "done") return { kind, releaseNext: Number(rest[0] ?? 0) };
    return { kind: kind as "skip" | "rest" | "stale" | "fenced" | "interrupted" };
  }

  /**
   * Returns what the completion released, null if the node had completed already (or its job is of
   * an older epoch), or "fenced" if the worker no longer holds the device and the node is not
   * running from `held`'s attempt any more. A call that ioredis resends, or a write of the same
   * `held` again, answers as the first did (each completion carries an id of its own).
   */
  async completeNode(
    ref: FencedNodeRef,
    outputs: Record<string, unknown>,
    executionTime: number,
    successors: readonly string[],
    held?: HeldCompletion,
  ): Promise<Completion | "fenced" | null> {
    const body: RunEventBody = {
      type: "node_completed",
      node_id: ref.nodeId,
      outputs,
      execution_time: executionTime,
    };
    const result = (await this.scripts["node-complete"](this.nodeKeys(ref.runId, ref.deviceId), [
      ref.nodeId,
      ref.epoch,
      JSON.stringify(outputs),
      held?.finishedAt ?? now(),
      executionTime,
      this.event(ref.runId, ref.pipelineId, body),
      globalEventStreamLength,
      ref.deviceId,
      this.retention.runEventsMax,
      ref.fence,
      held?.id ?? randomUUID(),
      held?.startedAt ?? "",
      successors.length,
      ...successors.slice(0, successorBatch),
    ])) as [string[], string[], number] | number;
    if (result === -2) return "fenced";
    if (typeof result === "number") return null;
    return { released: result[0], woken: result[1], next: result[2] };
  }

  /**
   * The next batch of a completed node's release, from position `from` (1-based) of `successors`
   * (all of them, in plan order). A batch asked again answers as it did; null if nothing was done
   * (an older epoch, a node not completed, or a batch out of turn).
   */
  async releaseMore(ref: NodeRef, successors: readonly string[], from: number): Promise<ReleaseStep | null> {
    const result = (await this.scripts["node-release"](
      [this.keys.run(ref.runId), this.keys.runNodes(ref.runId)],
      [
        ref.nodeId,
        ref.epoch,
        from,
        successors.length,
        ...successors.slice(from - 1, from - 1 + successorBatch),
      ],
    )) as [string[], number] | number;
    if (typeof result === "number") return null;
    return { released: result[0], next: result[1] };
  }

  /**
   * Of these completed nodes, those whose release of their successors stopped part-way, and where.
   * One HMGET: only nodes of more than `successorBatch` successors are asked about, a few per run.
   */
  async unfinishedReleases(runId: string, nodeIds: readonly string[]): Promise<Map<string, number>> {
    const next = await this.redis.hmget(
      this.keys.runNodes(runId),
      ...nodeIds.map((id) => `${id}:release_next`),
    );
    return new Map(
      nodeIds.flatMap((id, index) => {
        const at = Number(next[index] ?? 0);
        return at > 0 ? [[id, at] as const] : [];
      }),
    );
  }

  /**
   * Returns false if the worker no longer holds the device (nothing was recorded). `attempt` null:
   * no retry is announced (node_retrying): the node waits for its run's resume.
   */
  async retryNode(
    ref: FencedNodeRef,
    error: NodeError,
    attempt: number | null,
    delayMs: number,
  ): Promise<boolean> {
    const body: RunEventBody | null =
      attempt === null
        ? null
        : {
            type: "node_retrying",
            node_id: ref.nodeId,
            attempt,
            error_message: error.message,
            delay_ms: delayMs,
          };
    const result = await this.scripts["node-retry"](
      [
        this.keys.run(ref.runId),
        this.keys.runNodes(ref.runId),
        this.keys.runEvents(ref.runId),
        this.keys.events,
        this.keys.deviceLease(ref.deviceId),
      ],
      [
        ref.nodeId,
        ref.epoch,
        JSON.stringify(error),
        body ? this.event(ref.runId, ref.pipelineId, body) : "",
        globalEventStreamLength,
        this.retention.runEventsMax,
        ref.fence,
      ],
    );
    // -1 (already queued: this very call resent, or the job is not current) is no refusal.
    return result !== -2;
  }

  async failNode(
    ref: FencedNodeRef,
    status: "failed" | "cancelled" | "held",
    error: NodeError,
    executionTime: number,
  ): Promise<FailOutcome> {
    const fields = { node_id: ref.nodeId, error_message: error.message, error_type: error.code };
    const event =
      status === "cancelled"
        ? ""
        : this.event(ref.runId, ref.pipelineId, {
            type: status === "held" ? "node_held" : "node_failed",
            ...fields,
          });
    const result = await this.scripts["node-fail"](
      [
        this.keys.run(ref.runId),
        this.keys.runNodes(ref.runId),
        this.keys.runEvents(ref.runId),
        this.keys.events,
        this.keys.deviceLease(ref.deviceId),
        this.keys.runsByStatusPrefix,
      ],
      [
        ref.nodeId,
        ref.epoch,
        status,
        JSON.stringify(error),
        now(),
        executionTime,
        event,
        globalEventStreamLength,
        this.retention.runEventsMax,
        ref.fence,
      ],
    );
    return failOutcomes[String(result)] ?? "ignored";
  }

  /**
   * The run's current epoch, and the nodes released among those given. A large run is looked
   * through in batches of `releaseBatch` nodes, one script each (so none holds Redis for long),
   * sent together. A resume between two batches (a new epoch) is an error: the orchestrator's job
   * is tried again, and looks again in the new epoch.
   */
  async releaseReady(
    runId: string,
    nodeIds: readonly string[],
  ): Promise<{ epoch: number; released: string[] }> {
    // At least one batch, even of no nodes: it answers the epoch.
    const batches = nodeIds.length === 0 ? [[]] : batchesOf(nodeIds, releaseBatch);
    const results = await Promise.all(
      batches.map(
        (batch) =>
          this.scripts["nodes-release"]([this.keys.run(runId), this.keys.runNodes(runId)], batch) as Promise<
            string[]
          >,
      ),
    );
    const epochs = new Set(results.map(([epoch]) => epoch));
    if (epochs.size > 1)
      throw new Error(`run ${runId} was resumed while its nodes were released; looking again`);
    return { epoch: Number(results[0]?.[0] ?? 0), released: results.flatMap(([, ...released]) => released) };
  }

  async finishRun(
    runId: string,
    pipelineId: string,
    ending: "completed" | "failed" | "cancelled",
    executionTime: number,
    error: (NodeError & { node_id: string | null }) | null,
    body: RunEventBody,
  ): Promise<{ status: string; woken: string[] }> {
    const [status, ...woken] = (await this.scripts["run-finish"](
      [
        this.keys.run(runId),
        this.keys.runEvents(runId),
        this.keys.events,
        this.keys.activeRuns,
        this.keys.deviceReservations,
        this.keys.runReservations(runId),
        this.keys.reservationWaiters,
        this.keys.runsByStatusPrefix,
        this.keys.endedRuns,
      ],
      [
        ending,
        now(),
        executionTime,
        error ? JSON.stringify(error) : "",
        this.event(runId, pipelineId, body),
        globalEventStreamLength,
        this.keys.runEndedChannel,
        this.retention.runEventsMax,
        this.retention.runEventsTtlS,
      ],
    )) as string[];
    return { status: status ?? "", woken };
  }

  /**
   * Of `nodeIds`, those whose job may be waiting in a queue: released and not begun ("queued"), or
   * begun ("running": a stalled job BullMQ put back). Ended and pending nodes have none. `statuses`
   * narrows it (a pause takes only queued nodes' jobs away).
   */
  async nodesWithJobs(
    runId: string,
    nodeIds: readonly string[],
    statuses: readonly string[] = ["queued", "running"],
  ): Promise<string[]> {
    const wanted = new Set(statuses);
    const matched = await Promise.all(
      batchesOf(nodeIds, releaseBatch).map(async (batch) => {
        const found = await this.redis.hmget(
          this.keys.runNodes(runId),
          ...batch.map((nodeId) => `${nodeId}:status`),
        );
        return batch.filter((_, index) => wanted.has(found[index] ?? ""));
      }),
    );
    return matched.flat();
  }

  /**
   * Where a run's halt flag is ("cancelled", "timeout" or "failed"; empty while it is not halted),
   * for a read in the same round trip as the adds of its released nodes' jobs.
   */
  haltField(runId: string): { key: string; field: string } {
    return { key: this.keys.run(runId), field: "halt" };
  }

  /** Returns the run's status before the call; only a running or queued run is asked to halt. */
  async cancelRun(runId: string, reason: "cancelled" | "timeout" = "cancelled"): Promise<string> {
    return (await this.scripts["run-cancel"]([this.keys.run(runId)], [reason])) as string;
  }

  /**
   * Ends the given queued nodes `cancelled` (their jobs were removed before they began), by
   * batches of `releaseBatch` nodes, one script each, sent together.
   */
  async cancelQueuedNodes(runId: string, epoch: number, nodeIds: readonly string[], error: NodeError) {
    const ended = await Promise.all(
      batchesOf(nodeIds, releaseBatch).map(
        (batch) =>
          this.scripts["nodes-cancel"](
            [this.keys.run(runId), this.keys.runNodes(runId), this.keys.runsByStatusPrefix],
            [epoch, JSON.stringify(error), now(), ...batch],
          ) as Promise<number>,
      ),
    );
    return ended.reduce((sum, count) => sum + count, 0);
  }

  /**
   * Resumes a failed or cancelled run (`retry`), or a paused one (`unpause`): run-resume.lua starts
   * a new epoch, in one short step, then finishReset puts the nodes to run again back to pending. A
   * reset that fails part-way (Redis refuses writes, or this process dies) is finished by the run
   * job when it wakes: run-start.lua tells it the run is still `resetting`. A resume sent again
   * answers as the first did.
   */
  async resumeRun(
    runId: string,
    pipelineId: string,
    nodeIds: readonly string[],
    mode: "retry" | "unpause" = "retry",
  ): Promise<{ before: string; after: string; epoch: number; resumed: boolean }> {
    const [before, after, epoch, resumed] = (await this.scripts["run-resume"](
      [
        this.keys.run(runId),
        this.keys.runEvents(runId),
        this.keys.activeRuns,
        this.keys.runsByStatusPrefix,
        this.keys.endedRuns,
        this.keys.runNodes(runId),
      ],
      [randomUUID(), mode],
    )) as [string, string, number, number];
    if (Number(resumed) === 1) {
      // Left to the run job if it fails: the resume itself has happened, and is answered as such.
      await this.finishReset(runId, pipelineId, epoch, nodeIds).catch(() => undefined);
    }
    return { before, after, epoch: Number(epoch), resumed: Number(resumed) === 1 };
  }

  /**
   * Puts a resumed run's failed and cancelled nodes back to pending, `releaseBatch` nodes a script
   * (nodes-reset.lua), sent together; then, only once every batch has run, marks the reset done
   * and appends pipeline_resumed. Anything sent again, or after the reset is done, changes nothing.
   */
  async finishReset(
    runId: string,
    pipelineId: string,
    epoch: number,
    nodeIds: readonly string[],
  ): Promise<void> {
    const keys = [
      this.keys.run(runId),
      this.keys.runNodes(runId),
      this.keys.runEvents(runId),
      this.keys.events,
    ];
    const limits = [globalEventStreamLength, this.retention.runEventsMax];
    await Promise.all(
      batchesOf(nodeIds, releaseBatch).map((batch) =>
        this.scripts["nodes-reset"](keys, [epoch, "nodes", "", ...limits, ...batch]),
      ),
    );
    const resumed = (reason: "retried" | "unpaused" | "recovered") =>
      this.event(runId, pipelineId, { type: "pipeline_resumed", node_id: null, reason });
    await this.scripts["nodes-reset"](keys, [
      epoch,
      "done",
      resumed("retried"),
      ...limits,
      resumed("unpaused"),
      resumed("recovered"),
    ]);
  }

  /**
   * A person's decision on a held node (node-recover.lua). Returns what it did ("resumed": the held
   * run goes on in `epoch`, which the caller finishes as a resume's; "recovered": the paused run
   * stays paused; "again": this recovery was made before) and the run's status after. Throws the
   * script's refusal (NODE_NOT_HELD, RUN_NOT_RESTING, RUN_NOT_FOUND) as its message.
   */
  async recoverNode(
    ref: { runId: string; pipelineId: string; nodeId: string },
    /** `key`: the request's Idempotency-Key, or "" (the script names the recovery itself). */
    recovery: { action: "retry" | "skip" | "complete"; outputs: Record<string, unknown> | null; key: string },
    node: { deviceId: string; successors: readonly string[] },
  ): Promise<{ outcome: "resumed" | "recovered" | "again"; status: string; epoch: number; woken: string[] }> {
    const { runId, pipelineId, nodeId } = ref;
    const body: RunEventBody | null =
      recovery.action === "complete"
        ? {
            type: "node_completed",
            node_id: nodeId,
            outputs: recovery.outputs ?? {},
            execution_time: 0,
            completed_by: "operator",
          }
        : recovery.action === "skip"
          ? { type: "node_skipped", node_id: nodeId }
          : null;
    const [outcome, status, epoch, ...woken] = (await this.scripts["node-recover"](
      [
        this.keys.run(runId),
        this.keys.runNodes(runId),
        this.keys.runOutputs(runId),
        this.keys.runEvents(runId),
        this.keys.events,
        this.keys.activeRuns,
        this.keys.runsByStatusPrefix,
        this.keys.endedRuns,
        this.keys.deviceReservations,
        this.keys.runReservations(runId),
        this.keys.reservationWaiters,
      ],
      [
        nodeId,
        recovery.action,
        JSON.stringify(recovery.outputs ?? {}),
        now(),
        recovery.key,
        body ? this.event(runId, pipelineId, body) : "",
        globalEventStreamLength,
        this.retention.runEventsMax,
        node.deviceId,
        ...node.successors,
      ],
    )) as ["resumed" | "recovered" | "again", string, number, ...string[]];
    return { outcome, status, epoch: Number(epoch), woken };
  }

  /**
   * Asks the run to pause (run-pause.lua). Returns its status, its halt after the call ("paused"
   * when it is paused or pausing), and its epoch.
   */
  async pauseRun(runId: string, mode: PauseMode): Promise<{ status: string; halt: string; epoch: number }> {
    const [status, halt, epoch] = (await this.scripts["run-pause"]([this.keys.run(runId)], [mode])) as [
      string,
      string,
      number,
    ];
    return { status, halt, epoch: Number(epoch) };
  }

  /**
   * Rests a run that nothing runs of (run-settle.lua): a pausing run becomes paused, with
   * `pipeline_paused`; one with held nodes becomes held, with `pipeline_held`. Returns whether it
   * rests so now.
   */
  async settleRun(
    runId: string,
    pipelineId: string,
    rest: "paused" | "held",
    mode: PauseMode,
  ): Promise<boolean> {
    const body: RunEventBody =
      rest === "paused" ? { type: "pipeline_paused", mode } : { type: "pipeline_held" };
    const event = this.event(runId, pipelineId, body);
    const result = await this.scripts["run-settle"](
      [
        this.keys.run(runId),
        this.keys.runEvents(runId),
        this.keys.events,
        this.keys.runsByStatusPrefix,
        this.keys.endedRuns,
      ],
      [rest, event, globalEventStreamLength, this.retention.runEventsMax, now()],
    );
    return Number(result) >= 0;
  }

  private nodeKeys(runId: string, deviceId: string): string[] {
    return [
      this.keys.run(runId),
      this.keys.runNodes(runId),
      this.keys.runOutputs(runId),
      this.keys.runEvents(runId),
      this.keys.events,
      this.keys.deviceReservations,
      this.keys.runReservations(runId),
      this.keys.reservationWaiters,
      this.keys.deviceLease(deviceId),
    ];
  }

  private event(runId: string, pipelineId: string, body: RunEventBody): string {
    return eventJson({ run_id: runId, pipeline_id: pipelineId, timestamp: now() }, body);
  }
}

const now = () => new Date().toISOString();

function batchesOf(items: readonly string[], size: number): string[][] {
  const batches: string[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}

const failOutcomes: Record<string, FailOutcome> = {
  "2": "halted",
  "1": "ended",
  "-1": "ignored",
  "-2": "fenced",
};
