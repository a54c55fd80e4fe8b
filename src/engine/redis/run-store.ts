import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { RigflowError } from "../errors/rigflow-error.js";
import type { Plan } from "../pipeline/plan.js";
import { isEventId, lastPossibleEventId, type RunEvent } from "../run/events.js";
import type { NodeError, NodeState, NodeStatus, RunState, RunStatus, RunSummary } from "../run/types.js";
import type { RedisKeys } from "./keys.js";
import { PlanStore } from "./plan-store.js";
import { RunIndexes } from "./run-indexes.js";
import { loadScripts } from "./scripts.js";

export interface StoredRun {
  runId: string;
  pipelineId: string;
  pipelineVersion: number | null;
  status: RunStatus;
  halt: string;
  haltNode: string;
  startedAt: string | null;
  plan: Plan;
}

/** The run hash's fields a run's state shows (its plan is read only when needed). */
const runFields = [
  "run_id",
  "pipeline_id",
  "pipeline_version",
  "pipeline_name",
  "status",
  "created_at",
  "started_at",
  "finished_at",
  "execution_time",
  "error",
];

/** Run ids are opaque, never all digits, and never contain ":" or "__" (see nodeJobId). */
export const newRunId = () => `run_${randomBytes(10).toString("hex")}`;

/** Creating and reading runs: the run hash, its nodes, outputs and events. */
export class RunStore {
  readonly indexes: RunIndexes;
  private readonly plans: PlanStore;
  private readonly scripts;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    this.indexes = new RunIndexes(redis, keys);
    this.plans = new PlanStore(redis, keys);
    this.scripts = loadScripts(redis);
  }

  /**
   * Records a new queued run. Its document is not copied: a saved pipeline's version keeps it once
   * (the run names the version), and what runs is the plan, which runs of the same version share.
   */
  async create(runId: string, plan: Plan, pipelineVersion: number | null): Promise<void> {
    const sequence = await this.redis.incr(this.keys.runSequence);
    const nodeFields: Record<string, string | number> = {};
    for (const node of plan.nodes) {
      nodeFields[`${node.id}:status`] = "pending";
      nodeFields[`${node.id}:remaining`] = node.predecessors.length;
      nodeFields[`${node.id}:attempts`] = 0;
    }
    await this.plans.reference(runId, plan);
    await this.redis
      .multi()
      .hset(this.keys.run(runId), {
        run_id: runId,
        pipeline_id: plan.pipelineId,
        pipeline_version: pipelineVersion ?? "",
        pipeline_name: plan.pipelineName,
        status: "queued",
        halt: "",
        halt_node: "",
        epoch: 0,
        created_at: new Date().toISOString(),
        sequence,
      })
      .hset(this.keys.runNodes(runId), nodeFields)
      .zadd(this.keys.runs, sequence, runId)
      .zadd(this.keys.pipelineRuns(plan.pipelineId), sequence, runId)
      .zadd(this.keys.runsByStatus("queued"), sequence, runId)
      .sadd(this.keys.activeRuns, runId)
      .exec();
  }

  /**
   * Takes a place among the runs that have not ended for a new run, if fewer than `limit` have not;
   * returns whether it did, and how many had not ended.
   */
  async admit(runId: string, limit: number): Promise<{ admitted: boolean; active: number }> {
    const [active, admitted] = (await this.scripts["run-admit"]([this.keys.activeRuns], [runId, limit])) as [
      number,
      number,
    ];
    return { admitted: admitted === 1, active };
  }

  /** Removes a run that could not be enqueued, so that no half-created run is left behind. */
  async discard(runId: string): Promise<void> {
    await this.remove(runId, "any");
  }

  /**
   * Removes the run's record, node states, outputs, events, index entries and plan reference, in
   * one script; unless `endedBy` is "any", only if the run has ended, by then (ms on Redis's clock).
   */
  async remove(runId: string, endedBy: number | "any"): Promise<boolean> {
    const removed = await this.scripts["run-remove"](
      [
        this.keys.run(runId),
        this.keys.runNodes(runId),
        this.keys.runOutputs(runId),
        this.keys.runEvents(runId),
        this.keys.runReservations(runId),
        this.keys.runs,
        this.keys.endedRuns,
        this.keys.activeRuns,
        this.keys.runsByStatusPrefix,
        this.keys.pipelineRunsPrefix,
        this.keys.planPrefix,
        this.keys.deviceReservations,
      ],
      [runId, endedBy],
    );
    return removed === 1;
  }

  async loadRun(runId: string): Promise<StoredRun | null> {
    const [pipelineId, version, status, halt, haltNode, startedAt, planId, inlinePlan] =
      await this.redis.hmget(
        this.keys.run(runId),
        "pipeline_id",
        "pipeline_version",
        "status",
        "halt",
        "halt_node",
        "started_at",
        "plan_id",
        "plan",
      );
    const plan = pipelineId ? await this.plans.get(planId ?? null, inlinePlan ?? null) : null;
    if (!pipelineId || !plan) return null;
    return {
      runId,
      pipelineId,
      pipelineVersion: version ? Number(version) : null,
      status: status as RunStatus,
      halt: halt ?? "",
      haltNode: haltNode ?? "",
      startedAt: startedAt || null,
      plan,
    };
  }

  /** What the orchestrator decides on: status, the halt flag and the node that set it, start time. */
  async control(
    runId: string,
  ): Promise<{ status: RunStatus | null; halt: string; haltNode: string; startedAt: string | null }> {
    const [status, halt, haltNode, startedAt] = await this.redis.hmget(
      this.keys.run(runId),
      "status",
      "halt",
      "halt_node",
      "started_at",
    );
    return {
      status: status as RunStatus | null,
      halt: halt ?? "",
      haltNode: haltNode ?? "",
      startedAt: startedAt || null,
    };
  }

  async epoch(runId: string): Promise<number> {
    return Number((await this.redis.hget(this.keys.run(runId), "epoch")) ?? 0);
  }

  /** The run with every node's state. Three reads sent together; `plan` saves parsing it again. */
  async state(runId: string, knownPlan?: Plan): Promise<RunState | null> {
    const fields = knownPlan ? runFields : [...runFields, "plan_id", "plan"];
    // Not a MULTI: Redis out of memory refuses every command queued in one, and reads must go on.
    const [values, nodes, outputs] = await Promise.all([
      this.redis.hmget(this.keys.run(runId), ...fields),
      this.redis.hgetall(this.keys.runNodes(runId)),
      this.redis.hgetall(this.keys.runOutputs(runId)),
    ]);
    // Every run has node states: none means it was removed between the reads (its retention
    // passed), and it reads as gone, not as an ended run whose nodes are all pending.
    if (Object.keys(nodes).length === 0) return null;
    const run = Object.fromEntries(
      fields.map((name, index) => [name, values[index] ?? undefined]),
    ) as Partial<Record<string, string>>;
    if (!run.status) return null;
    const plan = knownPlan ?? (await this.plans.get(run.plan_id ?? null, run.plan ?? null));
    if (!plan) return null;
    const field = (nodeId: string, name: string) => nodes?.[`${nodeId}:${name}`] || null;
    const nodeStates: NodeState[] = plan.nodes.map((node) => {
      // Own fields only: a node may be called "constructor".
      const output = Object.hasOwn(outputs, node.id) ? outputs[node.id] : undefined;
      const time = field(node.id, "execution_time");
      const error = field(node.id, "error");
      return {
        nodeId: node.id,
        deviceId: node.deviceId,
        functionId: node.functionId,
        status: (field(node.id, "status") ?? "pending") as NodeStatus,
        attempts: Number(field(node.id, "attempts") ?? 0),
        outputs: output ? (JSON.parse(output) as Record<string, unknown>) : null,
        error: error ? (JSON.parse(error) as NodeError) : null,
        startedAt: field(node.id, "started_at"),
        finishedAt: field(node.id, "finished_at"),
        executionTime: time === null ? null : Number(time),
      };
    });
    const runError = run.error ? (JSON.parse(run.error) as NodeError & { node_id: string | null }) : null;
    return {
      runId: run.run_id ?? runId,
      pipelineId: run.pipeline_id ?? plan.pipelineId,
      pipelineVersion: run.pipeline_version ? Number(run.pipeline_version) : null,
      pipelineName: run.pipeline_name ?? "",
      status: run.status as RunStatus,
      createdAt: run.created_at ?? "",
      startedAt: run.started_at || null,
      finishedAt: run.finished_at || null,
      executionTime: run.execution_time ? Number(run.execution_time) : null,
      error: runError && {
        code: runError.code,
        message: runError.message,
        nodeId: runError.node_id,
        ...(runError.details && { details: runError.details }),
      },
      nodes: nodeStates,
    };
  }

  /** Newest first. The cursor is the sequence number of the last run of the previous page. */
  async list(filter: {
    status?: RunStatus;
    pipelineId?: string;
    limit: number;
    cursor?: number;
  }): Promise<{ runs: RunSummary[]; nextCursor: number | null }> {
    const runs: RunSummary[] = [];
    // Filtered, an index is read (the pipeline's, else the status's): only runs that may match.
    // Each run's own status is still checked, so a run changing status meanwhile is shown as it is.
    if (filter.pipelineId !== undefined || filter.status !== undefined) await this.indexes.ready();
    const index =
      filter.pipelineId !== undefined
        ? this.keys.pipelineRuns(filter.pipelineId)
        : filter.status !== undefined
          ? this.keys.runsByStatus(filter.status)
          : this.keys.runs;
    let max: string = filter.cursor === undefined ? "+inf" : `(${filter.cursor}`;
    const batch = Math.max(filter.limit * 2, 50);
    for (;;) {
      const page = await this.redis.zrevrangebyscore(index, max, "-inf", "WITHSCORES", "LIMIT", 0, batch);
      if (page.length === 0) return { runs, nextCursor: null };
      const ids = page.filter((_, index) => index % 2 === 0);
      const scores = page.filter((_, index) => index % 2 === 1).map(Number);
      const pipeline = this.redis.pipeline();
      for (const id of ids) {
        pipeline.hmget(
          this.keys.run(id),
          "pipeline_id",
          "pipeline_version",
          "status",
          "created_at",
          "finished_at",
        );
      }
      const rows = (await pipeline.exec()) ?? [];
      for (const [index, id] of ids.entries()) {
        const [pipelineId, version, status, createdAt, finishedAt] = (rows[index]?.[1] ?? []) as (
          string | null
        )[];
        if (!pipelineId) continue;
        if (filter.status && status !== filter.status) continue;
        if (filter.pipelineId && pipelineId !== filter.pipelineId) continue;
        runs.push({
          runId: id,
          pipelineId,
          pipelineVersion: version ? Number(version) : null,
          status: status as RunStatus,
          createdAt: createdAt ?? "",
          finishedAt: finishedAt || null,
        });
        if (runs.length === filter.limit) {
          const more = index < ids.length - 1 || page.length === batch * 2;
          return { runs, nextCursor: more ? (scores[index] as number) : null };
        }
      }
      if (page.length < batch * 2) return { runs, nextCursor: null };
      max = `(${scores[scores.length - 1]}`;
    }
  }

  /** Each node's recorded outputs, parsed (null where the node or its run has none). */
  async recordedOutputs(nodes: readonly { runId: string; nodeId: string }[]): Promise<unknown[]> {
    const reads = this.redis.pipeline();
    for (const { runId, nodeId } of nodes) reads.hget(this.keys.runOutputs(runId), nodeId);
    const replies = (await reads.exec()) ?? [];
    return replies.map(([error, value]) => {
      if (error) throw error;
      return typeof value === "string" ? (JSON.parse(value) as unknown) : null;
    });
  }

  /** The run's events, oldest first, after the given event id (exclusive). */
  async events(runId: string, after?: string, count = 1000): Promise<RunEvent[]> {
    if (after !== undefined && !isEventId(after)) {
      throw new RigflowError(
        "QUERY_INVALID",
        `after must be an event_id such as '1700000000000-0', not '${after.slice(0, 80)}'`,
        { after: after.slice(0, 80) },
      );
    }
    if (after === lastPossibleEventId) return [];
    const entries = await this.redis.xrange(
      this.keys.runEvents(runId),
      after ? `(${after}` : "-",
      "+",
      "COUNT",
      count,
    );
    return entries.map(([id, fields]) => parseEvent(id, fields));
  }

  /** Whether the run's event stream exists: an ended run's expires (see EventRetention). */
  async hasEvents(runId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.runEvents(runId))) === 1;
  }
}

export function parseEvent(id: string, fields: string[]): RunEvent {
  return { event_id: id, ...(JSON.parse(fields[1] ?? "{}") as Omit<RunEvent, "event_id">) } as RunEvent;
}
