import type { Redis } from "ioredis";
import { runStatuses, type RunStatus } from "../run/types.js";
import type { RedisKeys } from "./keys.js";
import type { RunIndexes } from "./run-indexes.js";

/**
 * How many runs are in each status, for /metrics: the size of each status's index (kept in step by
 * every script that changes a run's status, includes/set-run-status.lua), so a scrape costs one
 * round trip however many runs there are, and is exact.
 */
export class RunStatusCounts {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly indexes: RunIndexes,
  ) {}

  /** Runs with an approval waiting for a person (their status is running): their index's size. */
  async waiting(): Promise<number> {
    return this.redis.zcard(this.keys.runsByStatus("waiting"));
  }

  async counts(): Promise<Record<RunStatus, number>> {
    await this.indexes.ready();
    const sizes = this.redis.pipeline();
    for (const status of runStatuses) sizes.zcard(this.keys.runsByStatus(status));
    const replies = (await sizes.exec()) ?? [];
    return Object.fromEntries(
      runStatuses.map((status, index) => {
        const [error, size] = replies[index] ?? [null, 0];
        if (error) throw error;
        return [status, Number(size)];
      }),
    ) as Record<RunStatus, number>;
  }
}
