import { Hono } from "hono";
import { z } from "zod";
import { idSchema, type Engine } from "../../engine/index.js";
import { readJson } from "../middleware/json-body.js";
import { parseWith, pathId } from "../validation.js";

/**
 * GET /api/pipelines/{id} answers the document with `version` and `updated_at`: a client that saves
 * what it read sends them back. They are the store's, not the document's, so they are dropped.
 */
function withoutStoredFields(body: unknown): unknown {
  if (body === null || typeof body !== "object" || Array.isArray(body)) return body;
  const document = { ...(body as Record<string, unknown>) };
  delete document.version;
  delete document.updated_at;
  return document;
}

/** GET /api/pipelines pages by id: `cursor` is the `next_cursor` of the page before. */
export const listQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(1000),
  cursor: idSchema.optional(),
});

/** The seed's pipeline repository: save, list, get, delete, with versions. */
export function pipelineRoutes(engine: Engine) {
  return new Hono()
    .post("/save", async (c) => {
      const { pipeline, created } = await engine.savePipeline(withoutStoredFields(await readJson(c)));
      return c.json({ pipeline: pipeline.document, version: pipeline.version }, created ? 201 : 200);
    })
    .get("/", async (c) => {
      const query = parseWith(listQuerySchema, c.req.query(), "query", "QUERY_INVALID");
      // One more than asked: whether another page follows.
      const found = await engine.listPipelines({ after: query.cursor, limit: query.limit + 1 });
      const pipelines = found.slice(0, query.limit);
      const nextCursor = found.length > query.limit ? (pipelines.at(-1)?.id ?? null) : null;
      return c.json({
        pipelines: pipelines.map((p) => ({
          id: p.id,
          name: p.name,
          node_count: p.nodeCount,
          version: p.version,
          updated_at: p.updatedAt,
        })),
        next_cursor: nextCursor,
      });
    })
    .get("/:id", async (c) => {
      const stored = await engine.getPipeline(pathId(c.req.param("id"), "PIPELINE_NOT_FOUND"));
      return c.json({ ...stored.document, version: stored.version, updated_at: stored.updatedAt });
    })
    .delete("/:id", async (c) => {
      await engine.deletePipeline(pathId(c.req.param("id"), "PIPELINE_NOT_FOUND"));
      return c.body(null, 204);
    });
}
