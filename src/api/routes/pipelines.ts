import { Hono } from "hono";
import type { Engine } from "../../engine/index.js";
import { readJson } from "../middleware/json-body.js";
import { pathId } from "../validation.js";

/** The seed's pipeline repository: save, list, get, delete, with versions. */
export function pipelineRoutes(engine: Engine) {
  return new Hono()
    .post("/save", async (c) => {
      const { pipeline, created } = await engine.savePipeline(await readJson(c));
      return c.json({ pipeline: pipeline.document, version: pipeline.version }, created ? 201 : 200);
    })
    .get("/", async (c) => {
      const pipelines = await engine.listPipelines();
      return c.json({
        pipelines: pipelines.map((p) => ({
          id: p.id,
          name: p.name,
          node_count: p.nodeCount,
          version: p.version,
          updated_at: p.updatedAt,
        })),
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
