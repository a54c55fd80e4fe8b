import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { RigflowError } from "../errors/rigflow-error.js";
import { isRedisFull } from "../errors/redis-full.js";
import type { Plan, PlanNode } from "../pipeline/plan.js";
import { isEventId, lastPossibleEventId, type RunEvent } from "../run/events.js";
import { countsOf, nodeStatuses } from "../run/types.js";
import type { NodeCounts, NodeError, NodeState, NodeStatus } from "../run/types.js";
import type { PauseMode, RunOverview, RunState, RunStatus, RunSummary } from "../run/types.js";
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
    // Every node pending, and counted so (set-node-status.lua keeps the counts from here on).
    const nodeFields: Record<string, string | number> = { "#counted": 1, "#pending": plan.nodes.length };
    const nodesKey = this.keys.runNodes(runId);
    const early = plan.nodes.length > nodesPerWrite ? plan.nodes.slice(0, -nodesPerWrite) : [];
    // A large run's nodes are written a batch at a time before the MULTI that makes the run, so no
    // one command holds Redis for long (the MULTI runs as one). Until that MULTI takes the key over
    // (PERSIST), it expires: a submit that dies half-way leaves nothing for ever.
    for (let i = 0; i < early.length; i += nodesPerWrite) {
      const written = await this.redis
        .pipeline()
        .hset(nodesKey, initialNodeFields(early.slice(i, i + nodesPerWrite)))
        .expire(nodesKey, unfinishedCreateTtlS)
        .exec();
      // A pipeline answers each command's error instead of throwing it: a run missing nodes must not be made.
      const refused = written?.find(([error]) => error !== null)?.[0];
      if (refused) throw refused;
    }
    // A submit held up for longer than the expiry (a frozen process) would make a run missing
    // its early nodes: refuse instead; the caller removes what was written.
    if (early.length > 0 && (await this.redis.hlen(nodesKey)) !== early.length * 3) {
      throw new Error(`run ${runId}: its nodes expired while it was being created; submit it again`);
    }
    Object.assign(nodeFields, initialNodeFields(plan.nodes.slice(early.length)));
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
      .hset(nodesKey, nodeFields)
      .persist(nodesKey)
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

  /**
   * What the orchestrator decides on: status, the halt flag and the node that set it, start time,
   * and how a pause asked for stops running commands.
   */
  async control(runId: string): Promise<{
    status: RunStatus | null;
    halt: string;
    haltNode: string;
    startedAt: string | null;
    pauseMode: PauseMode;
  }> {
    const [status, halt, haltNode, startedAt, pauseMode] = await this.redis.hmget(
      this.keys.run(runId),
      "status",
      "halt",
      "halt_node",
      "started_at",
      "pause_mode",
    );
    return {
      status: status as RunStatus | null,
      halt: halt ?? "",
      haltNode: haltNode ?? "",
      startedAt: startedAt || null,
      pauseMode: pauseMode === "immediate" ? "immediate" : "deferred",
    };
  }

  /**
   * The run's node counts by status, kept by the scripts (set-node-status.lua): one read, whatever
   * the run's size. A run recorded before the counts existed is counted once, in Redis.
   */
  async nodeCounts(runId: string, plan: Plan): Promise<NodeCounts> {
    const key = this.keys.runNodes(runId);
    const [counted, ...values] = await this.redis.hmget(key, "#counted", ...nodeStatuses.map((s) => `#${s}`));
    if (counted !== null) return countsFrom(values.map(Number));
    try {
      return await this.countNodes(runId, plan, "count");
    } catch (error) {
      // Redis out of memory refuses the counting script's writes; reads must go on.
      if (!isRedisFull(error)) throw error;
      const state = await this.state(runId, plan);
      return countsOf(state?.nodes ?? []);
    }
  }

  /** Counts the run's nodes again from their statuses, and keeps those counts. */
  async recountNodes(runId: string, plan: Plan): Promise<NodeCounts> {
    return this.countNodes(runId, plan, "recount");
  }

  private async countNodes(runId: string, plan: Plan, mode: "count" | "recount"): Promise<NodeCounts> {
    const counts = (await this.scripts["node-counts"](
      [this.keys.runNodes(runId)],
      [mode, ...plan.nodes.map((node) => node.id)],
    )) as number[];
    return countsFrom(counts);
  }

  /** A node's recorded error, if it has one. */
  async nodeError(runId: string, nodeId: string): Promise<NodeError | null> {
    const error = await this.redis.hget(this.keys.runNodes(runId), `${nodeId}:error`);
    return error ? (JSON.parse(error) as NodeError) : null;
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
    const header = await this.headerOf(runId, fields, values, knownPlan);
    if (!header) return null;
    return { ...header.run, nodes: nodeStatesOf(header.plan, nodes, outputs) };
  }

  /**
   * The run as `GET /api/runs/{id}` shows it: with its node counts, and with every node's state
   * only up to `inlineMax` nodes (the reads of a larger run's nodes go by pages, `nodePage`), so
   * that reading a run never walks ten thousand nodes in one command.
   */
  async overview(runId: string, inlineMax: number): Promise<RunOverview | null> {
    const fields = [...runFields, "plan_id", "plan"];
    const values = await this.redis.hmget(this.keys.run(runId), ...fields);
    const header = await this.headerOf(runId, fields, values);
    if (!header) return null;
    const { plan } = header;
    if (plan.nodes.length > inlineMax) {
      const nodeCounts = await this.nodeCounts(runId, plan);
      return { ...header.run, nodeCount: plan.nodes.length, nodeCounts, nodes: null };
    }
    // The run's own fields are read already: only its nodes and outputs now.
    const [nodes, outputs] = await Promise.all([
      this.redis.hgetall(this.keys.runNodes(runId)),
      this.redis.hgetall(this.keys.runOutputs(runId)),
    ]);
    if (Object.keys(nodes).length === 0) return null; // removed between the reads
    const states = nodeStatesOf(plan, nodes, outputs);
    return { ...header.run, nodeCount: plan.nodes.length, nodeCounts: countsOf(states), nodes: states };
  }

  /**
   * A page of the run's nodes in plan order (predecessors first), from the node after position
   * `after`, at most `limit`, only those in `status` if given. At most `scanMax` nodes are looked
   * at per call, so a filter that matches few nodes of a large run answers a short page with a
   * cursor to go on from, never a walk of the whole run.
   */
  async nodePage(
    runId: string,
    page: { after: number; limit: number; status?: NodeStatus; scanMax: number },
  ): Promise<{ nodes: NodeState[]; nextCursor: number | null } | null> {
    const fields = ["status", "plan_id", "plan"];
    const values = await this.redis.hmget(this.keys.run(runId), ...fields);
    const header = await this.headerOf(runId, fields, values);
    if (!header) return null;
    const planNodes = header.plan.nodes;
    const found: NodeState[] = [];
    let position = page.after;
    const end = Math.min(planNodes.length, page.after + page.scanMax);
    while (position < end && found.length < page.limit) {
      // At least a few hundred at a time: a filter that matches few must not cost a read per node.
      const size = Math.max(page.limit - found.length, nodesPerPageRead);
      const slice = planNodes.slice(position, Math.min(end, position + size));
      const nodeFields = slice.flatMap((node) => nodeStateFields.map((name) => `${node.id}:${name}`));
      const [values, outputs] = await Promise.all([
        this.redis.hmget(this.keys.runNodes(runId), ...nodeFields),
        this.redis.hmget(this.keys.runOutputs(runId), ...slice.map((node) => node.id)),
      ]);
      for (const [i, node] of slice.entries()) {
        const get = (name: string) =>
          values[
            i * nodeStateFields.length + nodeStateFields.indexOf(name as (typeof nodeStateFields)[number])
          ] || null;
        const state = nodeStateOf(node, get, outputs[i] ?? undefined);
        position += 1;
        if (page.status !== undefined && state.status !== page.status) continue;
        found.push(state);
        // The page is full: the cursor is the node after this one, read or not.
        if (found.length === page.limit) break;
      }
    }
    return { nodes: found, nextCursor: position < planNodes.length ? position : null };
  }

  /** The run's own fields, read by HMGET of `fields` (with plan_id and plan unless `knownPlan`). */
  private async headerOf(
    runId: string,
    fields: readonly string[],
    values: readonly (string | null)[],
    knownPlan?: Plan,
  ): Promise<{ run: Omit<RunState, "nodes">; plan: Plan } | null> {
    const run = Object.fromEntries(
      fields.map((name, index) => [name, values[index] ?? undefined]),
    ) as Partial<Record<string, string>>;
    if (!run.status) return null;
    const plan = knownPlan ?? (await this.plans.get(run.plan_id ?? null, run.plan ?? null));
    if (!plan) return null;
    const runError = run.error ? (JSON.parse(run.error) as NodeError & { node_id: string | null }) : null;
    return {
      plan,
      run: {
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
      },
    };
  }

  /**
   * Newest first. The cursor is the sequence number of the last run of the previous page. Status
   * "waiting" lists the runs with an approval waiting for a person (their own status is running).
   */
  async list(filter: {
    status?: RunStatus | "waiting";
    pipelineId?: string;
    limit: number;
    cursor?: number;
  }): Promise<{ runs: RunSummary[]; nextCursor: number | null }> {
    const runs: RunSummary[] = [];
    // Filtered, an index is read (the pipeline's, else the status's): only runs that may match.
    // Each run's own status is still checked, so a run changing status meanwhile is shown as it is.
    if (filter.pipelineId !== undefined || filter.status !== undefined) await this.indexes.ready();
    const index =
      filter.status === "waiting"
        ? this.keys.runsByStatus("waiting")
        : filter.pipelineId !== undefined
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
        if (filter.status === "waiting" ? status !== "running" : filter.status && status !== filter.status) {
          continue;
        }
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

const countsFrom = (values: readonly number[]) =>
  Object.fromEntries(nodeStatuses.map((status, i) => [status, values[i] ?? 0])) as NodeCounts;

/** Nodes one read of a page looks at, at least. */
const nodesPerPageRead = 250;

/** Nodes whose initial fields one HSET writes when a run is created. */
const nodesPerWrite = 250;
/** How long the nodes of a run whose creation did not finish stay. */
const unfinishedCreateTtlS = 3600;

function initialNodeFields(nodes: readonly PlanNode[]): Record<string, string | number> {
  const fields: Record<string, string | number> = {};
  for (const node of nodes) {
    fields[`${node.id}:status`] = "pending";
    fields[`${node.id}:remaining`] = node.predecessors.length;
    fields[`${node.id}:attempts`] = 0;
  }
  return fields;
}

/** The fields of a node's state in the nodes hash (`<node id>:<field>`). */
const nodeStateFields = [
  "status",
  "attempts",
  "error",
  "started_at",
  "finished_at",
  "execution_time",
  "completed_by",
] as const;

/** Every node's state from the run's whole nodes and outputs hashes. */
function nodeStatesOf(
  plan: Plan,
  nodes: Record<string, string>,
  outputs: Record<string, string>,
): NodeState[] {
  return plan.nodes.map((node) =>
    // Own fields only: a node may be called "constructor".
    nodeStateOf(
      node,
      (name) => nodes[`${node.id}:${name}`] || null,
      Object.hasOwn(outputs, node.id) ? outputs[node.id] : undefined,
    ),
  );
}

function nodeStateOf(
  node: PlanNode,
  field: (name: string) => string | null,
  output: string | undefined,
): NodeState {
  const time = field("execution_time");
  const error = field("error");
  return {
    nodeId: node.id,
    deviceId: node.deviceId,
    functionId: node.functionId,
    status: (field("status") ?? "pending") as NodeStatus,
    attempts: Number(field("attempts") ?? 0),
    outputs: output ? (JSON.parse(output) as Record<string, unknown>) : null,
    error: error ? (JSON.parse(error) as NodeError) : null,
    startedAt: field("started_at"),
    finishedAt: field("finished_at"),
    executionTime: time === null ? null : Number(time),
    ...(field("completed_by") === "operator" && { completedBy: "operator" as const }),
    ...(node.approval && {
      approval: {
        message: node.approval.message,
        outputs: node.approval.outputs,
        // Only while it waits: a deadline has no meaning for a node that has ended.
        timeoutAt:
          field("status") === "waiting" && field("deadline")
            ? new Date(Number(field("deadline"))).toISOString()
            : null,
      },
    }),
  };
}
