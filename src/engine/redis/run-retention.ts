import type { Redis } from "ioredis";
import type { RedisKeys } from "./keys.js";
import { nodeJobId, type QueueSet } from "./queues.js";
import type { RunStore } from "./run-store.js";

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
 * Removes ended runs once their retention has passed: their BullMQ jobs (node jobs of every epoch,
 * the run job, timeout jobs), then, in one script, their record, node states, outputs, events and
 * index entries (RunStore.remove, one script). Jobs go first: a run whose removal is cut short keeps its record
 * and entry in the ended runs, so the next step finishes it. Each step does bounded work and only
 * one worker steps at a time (a lease in Redis); a run resumed meanwhile is left alone by the script,
 * and the reconciler gives it a run job again if this took it.
 */
export class RunRetentionSweeper {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly queues: QueueSet,
    private readonly store: RunStore,
    private readonly retention: RunRetention,
    private readonly sweeperId: string,
  ) {}

  async step(): Promise<RetentionStep> {
    if (this.retention.runRetentionS <= 0) return { removed: 0, more: false };
    const leased = await this.redis.set(this.keys.retentionSweep, this.sweeperId, "PX", stepLeaseMs, "NX");
    if (leased === null) return { removed: 0, more: false }; // another worker is stepping
    try {
      await this.store.indexes.ready();
      const [seconds, micros] = await this.redis.time();
      const cutoff =
        Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - this.retention.runRetentionS * 1000;
      const due = await this.redis.zrangebyscore(
        this.keys.endedRuns,
        "-inf",
        cutoff,
        "LIMIT",
        0,
        runsPerStep,
      );
      let removed = 0;
      let jobs = 0;
      let failure: Error | null = null;
      // Runs side by side, so that their round trips share the connection's pipeline: one at a
      // time, a busy Redis made the sweeper slower than runs end.
      for (let from = 0; from < due.length; from += runsAtOnce) {
        const outcomes = await Promise.allSettled(
          due.slice(from, from + runsAtOnce).map(async (runId) => {
            const asked = await this.removeJobs(runId);
            return { asked, removed: await this.store.remove(runId, cutoff) };
          }),
        );
        for (const outcome of outcomes) {
          if (outcome.status === "fulfilled") {
            jobs += outcome.value.asked;
            removed += outcome.value.removed ? 1 : 0;
          } else {
            // A job still locked by a worker (it ends soon), or Redis away: the run waits for a later step.
            const error: unknown = outcome.reason;
            failure ??= error instanceof Error ? error : new Error(String(error));
          }
        }
        if (jobs >= jobsPerStep) return { removed, more: true };
      }
      if (removed === 0 && failure !== null) throw failure;
      // The all-runs event stream, for live views: nothing in it older than the retention is wanted.
      await this.redis.xtrim(this.keys.events, "MINID", "~", cutoff);
      return { removed, more: due.length === runsPerStep };
    } finally {
      await this.releaseLease();
    }
  }

  /** Removes every job the run may have left; returns how many removals it asked for. */
  private async removeJobs(runId: string): Promise<number> {
    const run = await this.store.loadRun(runId);
    if (!run) return 0;
    const { plan } = run;
    const epochs = (await this.store.epoch(runId)) + 1;
    const removals: (() => Promise<unknown>)[] = [];
    for (let epoch = 0; epoch < epochs; epoch += 1) {
      for (const node of plan.nodes) {
        removals.push(() => this.queues.device(node.deviceId).remove(nodeJobId(runId, node.id, epoch)));
      }
      removals.push(() => this.queues.runs().remove(`${runId}__timeout__${epoch}`));
    }
    // The run job last: its children are gone by then, so removing it is one short script.
    for (let from = 0; from < removals.length; from += removalsAtOnce) {
      await Promise.all(removals.slice(from, from + removalsAtOnce).map((remove) => remove()));
    }
    await this.queues.runs().remove(runId);
    return removals.length + 1;
  }

  /** Lets the lease go only if it is still this sweeper's (it may have expired and passed on). */
  private async releaseLease(): Promise<void> {
    if ((await this.redis.get(this.keys.retentionSweep)) === this.sweeperId) {
      await this.redis.del(this.keys.retentionSweep);
    }
  }
}
