import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { PlanNode } from "../pipeline/plan.js";
import type { RedisKeys } from "./keys.js";
import { nodeJobId, type QueueSet } from "./queues.js";
import type { RunStore } from "./run-store.js";
import { loadScripts } from "./scripts.js";
import { isRedisFull } from "../errors/redis-full.js";

/** How long ended runs are kept, and how often workers look for those past it. */
export interface RunRetention {
  /** Seconds a run is kept after it ends (RUN_RETENTION_S); 0 keeps runs for ever. */
  runRetentionS: number;
  /** How often a worker looks for runs past their retention (RUN_SWEEP_INTERVAL_MS). */
  sweepIntervalMs: number;
}

export const defaultRunRetention: RunRetention = { runRetentionS: 30 * 24 * 3600, sweepIntervalMs: 30_000 };

/** At most this many runs are removed in one step... */
const runsPerStep = 100;
/** ...and at most about this many BullMQ jobs, so that a step is short however large the runs. */
const jobsPerStep = 2000;
/** Job removals of one run sent at once (one round trip's worth). */
const removalsAtOnce = 100;
/** Runs removed side by side. */
const runsAtOnce = 20;
/** The step's hold on the sweep: long enough for a step, short enough to pass on if its worker dies. */
const stepLeaseMs = 60_000;

export interface RetentionStep {
  /** Runs removed. */
  removed: number;
  /** More runs are past their retention now: take the next step soon rather than at the interval. */
  more: boolean;
}

/**
 * Removes ended runs once their retention has passed: their BullMQ jobs (node and timeout jobs of
 * every epoch up to the one that ended, then the run job), then, in one script, their record, node
 * states, outputs, events and index entries (RunStore.remove). Jobs go first: a run whose removal is
 * cut short (a job still locked, Redis away) keeps its record and its entry in the ended runs, so a
 * later step finishes it. A run resumed meanwhile is left alone: each run is checked due (and its
 * epoch read) in one step before its jobs go, again before its run job goes, and by the script.
 * Each step does bounded work; one worker steps at a time (a lease), though two at once only
 * repeat each other's work.
 *
 * While Redis refuses writes for memory, this is what gives it room again: the removal script
 * deletes before it writes (a script Redis lets start may go on writing), and a step goes ahead
 * without its lease, and without the jobs (each queue's kept jobs are bounded anyway).
 */
export class RunRetentionSweeper {
  private readonly scripts;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly queues: QueueSet,
    private readonly store: RunStore,
    private readonly retention: RunRetention,
    private readonly sweeperId: string,
  ) {
    this.scripts = loadScripts(redis);
  }

  async step(): Promise<RetentionStep> {
    if (this.retention.runRetentionS <= 0) return { removed: 0, more: false };
    const leased = await this.redis
      .set(this.keys.retentionSweep, this.sweeperId, "PX", stepLeaseMs, "NX")
      .catch((error: unknown) => {
        if (isRedisFull(error)) return "OK"; // no room even for the lease: go ahead without it
        throw error;
      });
    if (leased === null) return { removed: 0, more: false }; // another worker is stepping
    try {
      return await this.removeDue();
    } finally {
      await this.scripts["retention-lease-release"]([this.keys.retentionSweep], [this.sweeperId]);
    }
  }

  private async removeDue(): Promise<RetentionStep> {
    await this.store.indexes.ready().catch((error: unknown) => {
      // Out of memory, indexing older runs waits for room; the runs already indexed can go now.
      if (!isRedisFull(error)) throw error;
    });
    // The clock of the server that scored ended-runs (run-finish.lua's TIME).
    const [seconds, micros] = (await this.scripts["redis-time"]([this.keys.endedRuns], [])) as [
      string,
      string,
    ];
    const cutoff =
      Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - this.retention.runRetentionS * 1000;
    const due = await this.redis.zrangebyscore(this.keys.endedRuns, "-inf", cutoff, "LIMIT", 0, runsPerStep);
    let removed = 0;
    let jobs = 0;
    let failure: Error | null = null;
    // Runs side by side, so that their round trips share the connection's pipeline (one at a time,
    // a busy Redis made the sweeper slower than runs end), as many as keep the step's job removals
    // about jobsPerStep (at least one run: a run's removal is not split).
    let from = 0;
    while (from < due.length && jobs < jobsPerStep) {
      const batch: { runId: string; epoch: number; nodes: readonly PlanNode[] }[] = [];
      let planned = 0;
      while (from < due.length && batch.length < runsAtOnce) {
        const runId = due[from] as string;
        const run = await this.stillDue(runId, cutoff);
        from += 1;
        if (!run) continue;
        const removals = (run.epoch + 1) * (run.nodes.length + 1) + 1;
        if (batch.length > 0 && jobs + planned + removals > jobsPerStep) {
          from -= 1; // the next step's
          break;
        }
        batch.push({ runId, ...run });
        planned += removals;
      }
      if (batch.length === 0) break;
      const outcomes = await Promise.allSettled(batch.map((run) => this.removeRun(run, cutoff)));
      jobs += planned;
      for (const outcome of outcomes) {
        if (outcome.status === "fulfilled") removed += outcome.value ? 1 : 0;
        else {
          const error: unknown = outcome.reason;
          failure ??= error instanceof Error ? error : new Error(String(error));
        }
      }
    }
    if (removed === 0 && failure !== null) throw failure;
    // The all-runs event stream, for live views: nothing in it older than the retention is wanted.
    await this.redis.xtrim(this.keys.events, "MINID", "~", cutoff);
    return { removed, more: from < due.length || due.length === runsPerStep };
  }

  /**
   * The run's epoch and nodes if it is still due (ended by the cutoff), read in one step: a resume
   * after this starts a new epoch, whose jobs the removal then leaves alone.
   */
  private async stillDue(
    runId: string,
    cutoff: number,
  ): Promise<{ epoch: number; nodes: readonly PlanNode[] } | null> {
    const [endedAt, epoch] = await this.dueAndEpoch(runId);
    if (endedAt === null || endedAt > cutoff) return null;
    const run = await this.store.loadRun(runId);
    return { epoch, nodes: run?.plan.nodes ?? [] };
  }

  /**
   * When the run ended (null if it has not) and its epoch. The epoch is read first: a resume in
   * between takes the run out of the ended runs, or ends it again later than any cutoff, so the
   * epoch is never a resumed one's when the run reads as due. (Not a MULTI: Redis out of memory
   * refuses every command queued in one, and this must work then.)
   */
  private async dueAndEpoch(runId: string): Promise<[number | null, number]> {
    const epoch = await this.redis.hget(this.keys.run(runId), "epoch");
    const score = await this.redis.zscore(this.keys.endedRuns, runId);
    return [score === null ? null : Number(score), Number(epoch ?? 0)];
  }

  /** Its jobs, then its record; returns whether the record went (a run resumed meanwhile stays). */
  private async removeRun(
    run: { runId: string; epoch: number; nodes: readonly PlanNode[] },
    cutoff: number,
  ): Promise<boolean> {
    try {
      await this.removeJobs(run, cutoff);
    } catch (error) {
      // Out of memory, the record goes anyway: it is what frees room; the jobs are bounded by
      // each queue's kept jobs. Otherwise (a job still locked, Redis away) the run waits.
      if (!isRedisFull(error)) throw error;
    }
    return this.store.remove(run.runId, cutoff);
  }

  private async removeJobs(
    { runId, epoch, nodes }: { runId: string; epoch: number; nodes: readonly PlanNode[] },
    cutoff: number,
  ): Promise<void> {
    const removals: [Queue, string][] = [];
    for (let each = 0; each <= epoch; each += 1) {
      for (const node of nodes) removals.push([this.queues.nodeQueue(node), nodeJobId(runId, node.id, each)]);
      removals.push([this.queues.runs(), `${runId}__timeout__${each}`]);
    }
    for (let from = 0; from < removals.length; from += removalsAtOnce) {
      await Promise.all(
        removals
          .slice(from, from + removalsAtOnce)
          .map(([queue, jobId]) => removeJob(this.redis, queue, jobId)),
      );
    }
    // The run job last, its children gone, and only if no resume came meanwhile (it would be the
    // resumed run's; the reconciler would give it one again, but a moment late).
    const [endedAt] = await this.dueAndEpoch(runId);
    if (endedAt !== null && endedAt <= cutoff) await removeJob(this.redis, this.queues.runs(), runId);
  }
}

/**
 * Removes a job if it is there. BullMQ answers 0 both when there is no such job and when a worker
 * holds its lock; the second is an error here, so that the run keeps its record for a later step.
 */
async function removeJob(redis: Redis, queue: Queue, jobId: string): Promise<void> {
  if ((await queue.remove(jobId)) === 1) return;
  if ((await redis.exists(queue.toKey(jobId))) === 1) {
    throw new Error(`job ${jobId} in ${queue.name} is locked by a worker; its run is removed later`);
  }
}
