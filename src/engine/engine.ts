import { createHash } from "node:crypto";
import type { Redis } from "ioredis";
import type { DeviceCatalog } from "./catalog.js";
import { RigflowError } from "./errors/rigflow-error.js";
import type { Limits, Plan } from "./pipeline/plan.js";
import type { PipelineListing, PipelineRepository, StoredPipeline } from "./pipeline/repository.js";
import { compilePipeline, parsePipelineDocument } from "./pipeline/validate.js";
import { redisKeys, type RedisKeys } from "./redis/keys.js";
import { RedisPipelineRepository } from "./redis/pipeline-repository.js";
import { QueueSet } from "./redis/queues.js";
import { haltRun } from "./redis/run-halt.js";
import { pauseRun, unpauseRun } from "./redis/run-pause.js";
import { recoverNode, type Recovery } from "./redis/node-recovery.js";
import { decideApproval, type DecisionOutcome } from "./redis/approval-decision.js";
import type { ApprovalDecision } from "./redis/approval-ledger.js";
import { RunLedger } from "./redis/run-ledger.js";
import { RunStatusCounts } from "./redis/run-status-counts.js";
import { newRunId, RunStore } from "./redis/run-store.js";
import { readDeviceStatuses, type DeviceStatus } from "./redis/device-status.js";
import { defaultEventRetention, type EventRetention } from "./redis/event-retention.js";
import { wakeRunJob } from "./redis/run-sweeper.js";
import { RunWatcher } from "./redis/run-watcher.js";
import type { RunEvent } from "./run/events.js";
import { endedRunStatuses } from "./run/types.js";
import type {
  NodeState,
  NodeStatus,
  PauseMode,
  RunOverview,
  RunState,
  RunStatus,
  RunSummary,
} from "./run/types.js";

export interface RunRequest {
  pipelineId?: string;
  document?: unknown;
  params?: Record<string, Record<string, unknown>>;
  /** Overrides the pipeline's own `reserve_devices` for this run. */
  reserveDevices?: boolean;
  /** Overrides the pipeline's own run `timeout_ms` for this run. */
  timeoutMs?: number;
}

export interface SubmittedRun {
  runId: string;
  pipelineId: string;
  status: RunStatus;
  /** True when an Idempotency-Key matched an earlier submission and no new run was made. */
  replayed: boolean;
}

/** One page of a run's events, oldest first. */
export interface EventPage {
  events: RunEvent[];
  /** The last event_id of this page when more follow; null when the page reached the stream's end. */
  nextAfter: string | null;
  /** The run has ended and its event stream has expired (see EventRetention); the run itself stays. */
  expired: boolean;
  /** The run's status when the page was read. */
  status: RunStatus;
}

const idempotencyTtlSeconds = 24 * 3600;

/** The engine as the API sees it: pipelines, runs, and their events. Knows no HTTP. */
export class Engine {
  readonly keys: RedisKeys;
  readonly pipelines: PipelineRepository;
  readonly runs: RunStore;
  readonly queues: QueueSet;
  private readonly ledger: RunLedger;
  private readonly watcher: RunWatcher;

  constructor(
    /** Also the API's access layer's (sessions, the audit log, the sign-in throttle): one connection. */
    readonly redis: Redis,
    prefix: string,
    readonly catalog: DeviceCatalog,
    readonly limits: Limits,
    retention: EventRetention = defaultEventRetention,
  ) {
    this.keys = redisKeys(prefix);
    this.pipelines = new RedisPipelineRepository(redis, this.keys);
    this.runs = new RunStore(redis, this.keys);
    this.ledger = new RunLedger(redis, this.keys, retention);
    this.queues = new QueueSet(redis, prefix);
    this.watcher = new RunWatcher(redis, this.keys);
  }

  /** Validates fully (graph, devices, functions, params) before storing. */
  async savePipeline(body: unknown): Promise<{ pipeline: StoredPipeline; created: boolean }> {
    const { document, pipeline } = parsePipelineDocument(body);
    compilePipeline(pipeline, this.catalog, this.limits);
    const { version, created } = await this.pipelines.save(pipeline.id, document);
    return { pipeline: { document, version, updatedAt: new Date().toISOString() }, created };
  }

  async getPipeline(id: string): Promise<StoredPipeline> {
    const stored = await this.pipelines.get(id);
    if (!stored) throw new RigflowError("PIPELINE_NOT_FOUND", `no pipeline '${id}'`, { pipeline_id: id });
    return stored;
  }

  listPipelines(page?: { after?: string | undefined; limit?: number }): Promise<PipelineListing[]> {
    return this.pipelines.list(page);
  }

  async deletePipeline(id: string): Promise<void> {
    if (!(await this.pipelines.delete(id))) {
      throw new RigflowError("PIPELINE_NOT_FOUND", `no pipeline '${id}'`, { pipeline_id: id });
    }
  }

  async submitRun(request: RunRequest, idempotencyKey?: string): Promise<SubmittedRun> {
    const { plan, version } = await this.planFor(request);
    if (idempotencyKey === undefined) return this.enqueueRun(plan, version);
    const fingerprint = createHash("sha256").update(JSON.stringify(request)).digest("hex");
    const runId = newRunId();
    const key = this.keys.idempotency(idempotencyKey);
    const claimed = await this.redis.set(key, `${fingerprint} ${runId}`, "EX", idempotencyTtlSeconds, "NX");
    if (claimed === null) {
      const [earlierFingerprint, earlierRunId] = ((await this.redis.get(key)) ?? "").split(" ");
      if (earlierFingerprint !== fingerprint || !earlierRunId) {
        throw new RigflowError(
          "IDEMPOTENCY_KEY_REUSED",
          "this Idempotency-Key was already used with another body",
          {
            idempotency_key: idempotencyKey,
          },
        );
      }
      const earlier = await this.runs.loadRun(earlierRunId);
      if (!earlier) {
        // No run yet: the first request is still making it (a moment ago), or, within the key's
        // day, the run was removed (RUN_RETENTION_S under a day): say so, rather than answer a run
        // that is not there or run the pipeline again.
        const keyAgeS = idempotencyTtlSeconds - (await this.redis.ttl(key));
        if (keyAgeS < 60) {
          return { runId: earlierRunId, pipelineId: plan.pipelineId, status: "queued", replayed: true };
        }
        throw new RigflowError(
          "RUN_NOT_FOUND",
          `this Idempotency-Key made run ${earlierRunId}, which has been removed (RUN_RETENTION_S); use a new key to run it again`,
          { run_id: earlierRunId, idempotency_key: idempotencyKey },
        );
      }
      return { runId: earlierRunId, pipelineId: plan.pipelineId, status: earlier.status, replayed: true };
    }
    try {
      return await this.enqueueRun(plan, version, runId);
    } catch (error) {
      // The key is given up only if no run was left behind (one whose discard failed would run):
      // a retry with it then replays that run rather than making a second.
      if ((await this.redis.exists(this.keys.run(runId)).catch(() => 1)) === 0) {
        await this.redis.del(key).catch(() => undefined);
      }
      throw error;
    }
  }

  async getRun(runId: string): Promise<RunState> {
    const state = await this.runs.state(runId);
    if (!state) throw runNotFound(runId);
    return state;
  }

  /**
   * The run as `GET /api/runs/{id}` shows it: with node counts, and its nodes' states up to
   * `inlineNodesMax` nodes; a larger run's nodes are read by pages (`runNodes`).
   */
  async getRunOverview(runId: string): Promise<RunOverview> {
    const overview = await this.runs.overview(runId, inlineNodesMax);
    if (!overview) throw runNotFound(runId);
    return overview;
  }

  /** A page of the run's nodes in plan order (see RunStore.nodePage); `after` is a position. */
  async runNodes(
    runId: string,
    page: { after: number; limit: number; status?: NodeStatus },
  ): Promise<{ nodes: NodeState[]; nextCursor: number | null }> {
    const found = await this.runs.nodePage(runId, { ...page, scanMax: nodePageScanMax });
    if (!found) throw runNotFound(runId);
    return found;
  }

  listRuns(
    filter: Parameters<RunStore["list"]>[0],
  ): Promise<{ runs: RunSummary[]; nextCursor: number | null }> {
    return this.runs.list(filter);
  }

  async runEvents(runId: string, after?: string): Promise<RunEvent[]> {
    if (!(await this.runs.loadRun(runId))) throw runNotFound(runId);
    return this.runs.events(runId, after);
  }

  /** Up to `limit` events after `after`; says whether more follow and whether the stream expired. */
  async eventPage(runId: string, after: string | undefined, limit: number): Promise<EventPage> {
    const { status } = await this.runs.control(runId);
    if (status === null) throw runNotFound(runId);
    const events = await this.runs.events(runId, after, limit + 1);
    const more = events.length > limit;
    if (more) events.length = limit;
    const expired =
      events.length === 0 && endedRunStatuses.has(status) && !(await this.runs.hasEvents(runId));
    return { events, nextAfter: more ? (events.at(-1)?.event_id ?? null) : null, expired, status };
  }

  /**
   * Halts the run and tells every worker to stop the run's commands in flight. Returns the run's
   * status before the cancel (it ends cancelled once its running commands have stopped).
   */
  async cancelRun(runId: string): Promise<RunStatus> {
    const run = await this.runs.loadRun(runId);
    if (!run) throw runNotFound(runId);
    const before = await haltRun(
      { redis: this.redis, keys: this.keys, ledger: this.ledger, queues: this.queues },
      { runId, plan: run.plan, epoch: await this.runs.epoch(runId) },
      "cancelled",
    ).catch(rethrowNotFound(runId));
    if (endedRunStatuses.has(before as RunStatus)) {
      // A run whose node failed (or that timed out) is failed even while its last commands finish.
      const message =
        before === "failed"
          ? `run ${runId} has failed and keeps its failure; retry it to run its failed nodes again`
          : `run ${runId} has already ended (${before})`;
      throw new RigflowError("RUN_ALREADY_ENDED", message, {
        run_id: runId,
        status: before,
      });
    }
    return before as RunStatus;
  }

  /**
   * Pauses the run (see run-pause.ts): deferred, its running commands finish; immediate, they are
   * stopped through their drivers. Returns the run's status now (it is `paused` once nothing of it
   * runs). A pause asked again answers as the first.
   */
  async pauseRun(runId: string, mode: PauseMode): Promise<RunStatus> {
    const run = await this.runs.loadRun(runId);
    if (!run) throw runNotFound(runId);
    return pauseRun(
      { redis: this.redis, keys: this.keys, ledger: this.ledger, queues: this.queues },
      { runId, plan: run.plan },
      mode,
    ).catch(rethrowNotFound(runId));
  }

  /** Resumes a paused run; returns its status now (running, or queued if it had not started). */
  async unpauseRun(runId: string): Promise<RunStatus> {
    const run = await this.runs.loadRun(runId);
    if (!run) throw runNotFound(runId);
    return unpauseRun(
      { redis: this.redis, keys: this.keys, ledger: this.ledger, queues: this.queues },
      { runId, plan: run.plan, epoch: await this.runs.epoch(runId) },
    ).catch(rethrowNotFound(runId));
  }

  /** A person's decision on a held node (see node-recovery.ts); returns the run's status after it. */
  async recoverNode(
    runId: string,
    nodeId: string,
    recovery: Recovery,
    requestId?: string,
  ): Promise<RunStatus> {
    const run = await this.runs.loadRun(runId);
    if (!run) throw runNotFound(runId);
    return recoverNode(
      { ledger: this.ledger, queues: this.queues, catalog: this.catalog },
      { runId, plan: run.plan, epoch: await this.runs.epoch(runId) },
      nodeId,
      recovery,
      requestId,
    );
  }

  /** A person's decision on a waiting approval node (see approval-decision.ts). */
  async decideApproval(
    runId: string,
    nodeId: string,
    decision: ApprovalDecision,
    requestId?: string,
  ): Promise<DecisionOutcome> {
    const run = await this.runs.loadRun(runId);
    if (!run) throw runNotFound(runId);
    return decideApproval(
      { ledger: this.ledger, queues: this.queues },
      { runId, plan: run.plan },
      nodeId,
      decision,
      requestId,
    );
  }

  /**
   * Runs the failed and cancelled nodes again; completed nodes keep their outputs. Returns the
   * run's status now (running, or queued for a run cancelled before it started).
   */
  async resumeRun(runId: string): Promise<RunStatus> {
    const run = await this.runs.loadRun(runId);
    if (!run) throw runNotFound(runId);
    const { before, after } = await this.ledger
      .resumeRun(
        runId,
        run.pipelineId,
        run.plan.nodes.map((node) => node.id),
      )
      .catch(rethrowNotFound(runId)); // removed meanwhile (its retention passed)
    if (before !== "failed" && before !== "cancelled") {
      throw new RigflowError(
        "RUN_NOT_RETRYABLE",
        `run ${runId} is ${before}; only a failed or cancelled run can be retried`,
        { run_id: runId, status: before },
      );
    }
    // If this fails, the ledger says running and the sweeper wakes the run job within 30 s.
    await wakeRunJob(this.queues, runId, run.pipelineId);
    if (run.plan.timeoutMs !== undefined) {
      // A resumed run gets its full time again.
      const epoch = await this.runs.epoch(runId);
      await this.queues.addRunTimeout(runId, run.pipelineId, epoch, run.plan.timeoutMs);
    }
    return after as RunStatus;
  }

  /** As waitForRun, answering the run as GET /api/runs/{id} shows it (a large run without its nodes). */
  async waitForRunOverview(runId: string, timeoutMs: number): Promise<RunOverview> {
    await this.watcher.waitForEnd(runId, timeoutMs);
    return this.getRunOverview(runId);
  }

  /** Resolves with the run's state once it has ended, or once `timeoutMs` has passed. */
  async waitForRun(runId: string, timeoutMs: number): Promise<RunState> {
    await this.watcher.waitForEnd(runId, timeoutMs);
    return this.getRun(runId);
  }

  /**
   * Wakes the run's orchestrator job (adds it again if it is missing or has ended), as the sweeper
   * would within its interval: for an action from outside that took the run job away meanwhile.
   */
  async wakeRunJob(runId: string, pipelineId: string): Promise<void> {
    await wakeRunJob(this.queues, runId, pipelineId);
  }

  devices(): Promise<DeviceStatus[]> {
    return readDeviceStatuses(this.redis, this.keys, this.queues, this.catalog);
  }

  /** Counts of runs by status, from the status indexes (for /metrics). */
  createRunStatusCounts(): RunStatusCounts {
    return new RunStatusCounts(this.redis, this.keys, this.runs.indexes);
  }

  /** Whether Redis answers, for /readyz. */
  async ping(): Promise<boolean> {
    return (await this.redis.ping().catch(() => "")) === "PONG";
  }

  /** Before a shutdown: requests waiting for a run to end are answered now, with its status so far. */
  stopWaiting(): void {
    this.watcher.stopWaiting();
  }

  async close(): Promise<void> {
    this.watcher.close();
    await this.queues.close();
  }

  private async planFor(request: RunRequest): Promise<{ plan: Plan; version: number | null }> {
    const stored = request.pipelineId === undefined ? null : await this.getPipeline(request.pipelineId);
    const { pipeline } = stored
      ? parsePipelineDocument(stored.document, true)
      : parsePipelineDocument(request.document);
    const plan = compilePipeline(
      pipeline,
      this.catalog,
      this.limits,
      request.params,
      request.reserveDevices,
      request.timeoutMs,
    );
    return { plan, version: stored?.version ?? null };
  }

  private async enqueueRun(plan: Plan, version: number | null, runId = newRunId()): Promise<SubmittedRun> {
    const { admitted, active } = await this.runs.admit(runId, this.limits.maxActiveRuns);
    if (!admitted) {
      throw new RigflowError(
        "QUEUE_FULL",
        `${active} runs have not ended; this server takes at most ${this.limits.maxActiveRuns} (MAX_ACTIVE_RUNS): try again once some have`,
        { active_runs: active, limit: this.limits.maxActiveRuns, retry_after_s: queueFullRetryAfterS },
      );
    }
    try {
      await this.runs.create(runId, plan, version);
      await this.queues.addRunJob(runId, plan.pipelineId);
      if (plan.timeoutMs !== undefined)
        await this.queues.addRunTimeout(runId, plan.pipelineId, 0, plan.timeoutMs);
    } catch (error) {
      await this.runs.discard(runId).catch(() => undefined);
      throw error;
    }
    return { runId, pipelineId: plan.pipelineId, status: "queued", replayed: false };
  }
}

/** What a QUEUE_FULL answer suggests waiting: runs take seconds to minutes to end. */
/** Up to this many nodes, a run is read with every node's state; beyond it, by pages. */
export const inlineNodesMax = 1000;
/** Nodes one page read looks at, whatever its filter matches: a bound on one request's work. */
const nodePageScanMax = 5000;
const queueFullRetryAfterS = 10;

const runNotFound = (runId: string) =>
  new RigflowError("RUN_NOT_FOUND", `no run '${runId}'`, { run_id: runId });

function rethrowNotFound(runId: string) {
  return (error: unknown): never => {
    if (error instanceof Error && error.message.includes("RUN_NOT_FOUND")) throw runNotFound(runId);
    throw error;
  };
}
