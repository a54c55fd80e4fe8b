import type { Redis } from "ioredis";
import { endedRunStatuses, type RunStatus } from "../run/types.js";
import type { RedisKeys } from "./keys.js";

export const runStatuses: readonly RunStatus[] = ["queued", "running", "completed", "failed", "cancelled"];

/** How many runs one read takes from the runs index. */
const page = 1000;
/** Past this many runs touched between two counts, the next count reads every run again. */
const maxTouched = 50_000;

/**
 * How many runs are in each status, for /metrics, without reading every run at every scrape: every
 * run once at first (and every `fullEveryMs` after, in case an event was missed), then only the
 * runs created since (by their sequence in the runs index), the runs not ended at the last count,
 * the active runs, and the runs an event named since (`touch`): every change of a run's status
 * emits an event (started, ended, resumed), and a resumed run is active again.
 */
export class RunStatusCounts {
  private readonly statusOf = new Map<string, RunStatus>();
  private readonly touched = new Set<string>();
  private lastSequence = 0;
  private readAllAt = Number.NEGATIVE_INFINITY;
  /**
   * Set when `touch` overflowed (the runs it named were dropped): only a read of every run that
   * started after the overflow makes up for them, so a read already under way does not clear it.
   */
  private fullReadNeeded = false;
  /** How many times `touch` has overflowed, so a read knows whether one came during it. */
  private overflows = 0;
  /** The count under way: scrapes at once share it (two reads at once would mix their maps). */
  private reading: Promise<void> | null = null;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly fullEveryMs = 10 * 60_000,
  ) {}

  /** An event named this run: its status may have changed. */
  touch(runId: string): void {
    if (this.touched.size >= maxTouched) {
      this.fullReadNeeded = true;
      this.overflows += 1;
      this.touched.clear();
      return;
    }
    this.touched.add(runId);
  }

  async counts(): Promise<Record<RunStatus, number>> {
    this.reading ??= this.read().finally(() => {
      this.reading = null;
    });
    await this.reading;
    const counts = Object.fromEntries(runStatuses.map((status) => [status, 0])) as Record<RunStatus, number>;
    for (const status of this.statusOf.values()) counts[status] += 1;
    return counts;
  }

  private read(): Promise<void> {
    const due = this.fullReadNeeded || Date.now() - this.readAllAt >= this.fullEveryMs;
    return due ? this.readAll() : this.readChanges();
  }

  /** Every run again. If it fails part way, readAllAt is unchanged and the next count starts over. */
  private async readAll(): Promise<void> {
    const startedAt = Date.now();
    const overflows = this.overflows;
    this.touched.clear();
    this.statusOf.clear();
    this.lastSequence = 0;
    await this.readNew();
    this.readAllAt = startedAt;
    if (this.overflows === overflows) this.fullReadNeeded = false;
  }

  private async readChanges(): Promise<void> {
    const named = [...this.touched];
    this.touched.clear();
    try {
      const again = new Set(named);
      for (const [runId, status] of this.statusOf) if (!endedRunStatuses.has(status)) again.add(runId);
      for (const runId of await this.redis.smembers(this.keys.activeRuns)) again.add(runId);
      await this.readStatuses([...again]);
      await this.readNew();
    } catch (error) {
      // Redis failed part way: the runs events named are still to be read (touch overflows as usual).
      for (const runId of named) this.touch(runId);
      throw error;
    }
  }

  /** Runs created since the last one read, in pages. */
  private async readNew(): Promise<void> {
    for (;;) {
      const entries = await this.redis.zrangebyscore(
        this.keys.runs,
        `(${this.lastSequence}`,
        "+inf",
        "WITHSCORES",
        "LIMIT",
        0,
        page,
      );
      const ids = entries.filter((_, index) => index % 2 === 0);
      await this.readStatuses(ids);
      const last = entries[entries.length - 1];
      if (last !== undefined) this.lastSequence = Number(last);
      if (ids.length < page) return;
    }
  }

  private async readStatuses(runIds: readonly string[]): Promise<void> {
    for (let from = 0; from < runIds.length; from += page) {
      const batch = runIds.slice(from, from + page);
      const pipeline = this.redis.pipeline();
      for (const runId of batch) pipeline.hget(this.keys.run(runId), "status");
      const replies = (await pipeline.exec()) ?? [];
      batch.forEach((runId, index) => {
        const [error, reply] = replies[index] ?? [null, null];
        if (error) throw error;
        const status = reply as RunStatus | null;
        if (status && runStatuses.includes(status)) this.statusOf.set(runId, status);
        else this.statusOf.delete(runId);
      });
    }
  }
}
