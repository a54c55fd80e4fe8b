import type { Redis } from "ioredis";
import { endedRunStatuses, type RunStatus } from "../run/types.js";
import type { RedisKeys } from "./keys.js";
import { loadScripts } from "./scripts.js";

/** Bumped when an index is added: a Redis marked with an older version is indexed again, once. */
const indexesVersion = "2";

/** How many runs one step of the one-time indexing reads. */
const batch = 500;

/**
 * The run indexes (a pipeline's runs, runs by status, ended runs by end time) are kept in step by
 * the scripts that create runs and change their status. Runs made before an index existed are added
 * to it once per Redis: `ready()` does that on first use in a process, unless a marker says it has
 * been done. Two processes doing it at once add the same entries; nothing is lost either way.
 */
export class RunIndexes {
  private done: Promise<void> | null = null;
  private readonly scripts;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    this.scripts = loadScripts(redis);
  }

  ready(): Promise<void> {
    this.done ??= this.indexOldRuns().catch((error: unknown) => {
      this.done = null; // a Redis blip part way: the next caller starts over
      throw error;
    });
    return this.done;
  }

  private async indexOldRuns(): Promise<void> {
    if ((await this.redis.get(this.keys.runIndexesVersion)) === indexesVersion) return;
    // Paged by sequence, not by rank: runs removed meanwhile would shift ranks and skip some.
    for (let after = "-inf"; ;) {
      const page = await this.redis.zrangebyscore(
        this.keys.runs,
        after,
        "+inf",
        "WITHSCORES",
        "LIMIT",
        0,
        batch,
      );
      if (page.length === 0) break;
      const ids = page.filter((_, i) => i % 2 === 0);
      after = `(${page[page.length - 1]}`;
      const read = this.redis.pipeline();
      for (const id of ids) read.hmget(this.keys.run(id), "status", "finished_at", "created_at");
      const rows = (await read.exec()) ?? [];
      const args = ids.flatMap((id, i) => {
        const [status, finishedAt, createdAt] = (rows[i]?.[1] ?? []) as (string | null)[];
        const ended = endedRunStatuses.has(status as RunStatus);
        const endedAt = ended ? Date.parse(finishedAt || createdAt || "") || Date.now() : 0;
        return [id, endedAt];
      });
      await this.scripts["runs-index"](
        [
          this.keys.runPrefix,
          this.keys.pipelineRunsPrefix,
          this.keys.runsByStatusPrefix,
          this.keys.endedRuns,
        ],
        args,
      );
    }
    await this.redis.set(this.keys.runIndexesVersion, indexesVersion);
  }
}
