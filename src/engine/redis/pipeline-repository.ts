import type { Redis } from "ioredis";
import type { PipelineListing, PipelineRepository, StoredPipeline } from "../pipeline/repository.js";
import type { RedisKeys } from "./keys.js";
import { loadScripts } from "./scripts.js";

/**
 * Pipelines in Redis: one hash per pipeline and a sorted set of ids. The version counter outlives a
 * delete, so a pipeline saved again after a delete never reuses a version a run may still name.
 */
export class RedisPipelineRepository implements PipelineRepository {
  private readonly scripts;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    this.scripts = loadScripts(redis);
  }

  async save(id: string, document: Record<string, unknown>): Promise<{ version: number; created: boolean }> {
    const [version, created] = (await this.scripts["pipeline-save"](
      [this.keys.pipeline(id), this.keys.pipelineVersion(id), this.keys.pipelines],
      [
        id,
        JSON.stringify(document),
        new Date().toISOString(),
        typeof document.name === "string" ? document.name : "",
        Array.isArray(document.nodes) ? document.nodes.length : 0,
      ],
    )) as [number, number];
    return { version, created: created === 1 };
  }

  async get(id: string): Promise<StoredPipeline | null> {
    const [document, version, updatedAt] = await this.redis.hmget(
      this.keys.pipeline(id),
      "document",
      "version",
      "updated_at",
    );
    if (document === null || document === undefined) return null;
    return {
      document: JSON.parse(document) as Record<string, unknown>,
      version: Number(version),
      updatedAt: updatedAt ?? "",
    };
  }

  async list(page: { after?: string | undefined; limit?: number } = {}): Promise<PipelineListing[]> {
    // All scores are 0: the set is in id order, and a page is a range of ids.
    const from = page.after === undefined ? "-" : `(${page.after}`;
    const ids =
      page.limit === undefined
        ? await this.redis.zrangebylex(this.keys.pipelines, from, "+")
        : await this.redis.zrangebylex(this.keys.pipelines, from, "+", "LIMIT", 0, page.limit);
    const pipeline = this.redis.pipeline();
    for (const id of ids)
      pipeline.hmget(this.keys.pipeline(id), "name", "node_count", "version", "updated_at");
    const rows = (await pipeline.exec()) ?? [];
    return ids.flatMap((id, index) => {
      const [name, nodeCount, version, updatedAt] = (rows[index]?.[1] ?? []) as (string | null)[];
      if (version === null || version === undefined) return [];
      return [
        {
          id,
          name: name ?? "",
          nodeCount: Number(nodeCount),
          version: Number(version),
          updatedAt: updatedAt ?? "",
        },
      ];
    });
  }

  async delete(id: string): Promise<boolean> {
    const results = await this.redis.multi().del(this.keys.pipeline(id)).zrem(this.keys.pipelines, id).exec();
    return results?.[0]?.[1] === 1;
  }
}
