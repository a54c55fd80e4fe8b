import { Hono, type Context } from "hono";
import { z } from "zod";
import { idSchema, nodeStatuses, RigflowError, runStatuses, type Engine } from "../../engine/index.js";
import { readJson, readOptionalJson } from "../middleware/json-body.js";
import { parseWith, pathId } from "../validation.js";
import { nodeView, runSummaryView, runView } from "../wire.js";
import { runEventRoutes, type EventStreamOptions } from "./run-events.js";
import { parseRunBody } from "./run-request.js";

export const listQuerySchema = z.object({
  /** A run status, or "waiting": the runs with an approval waiting for a person. */
  status: z.enum([...runStatuses, "waiting"]).optional(),
  pipeline_id: idSchema.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z
    .string()
    .regex(/^\d{1,15}$/, "must be a next_cursor from an earlier page")
    .optional(),
});

export const nodesQuerySchema = z.object({
  status: z.enum(nodeStatuses).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z
    .string()
    .regex(/^\d{1,6}$/, "must be a next_cursor from an earlier page")
    .optional(),
});

export const pauseBodySchema = z
  .object({ mode: z.enum(["deferred", "immediate"]).default("deferred") })
  .strict()
  .default({ mode: "deferred" });

export const recoverBodySchema = z.discriminatedUnion("action", [
  z.strictObject({ action: z.literal("retry") }),
  z.strictObject({ action: z.literal("skip") }),
  z.strictObject({ action: z.literal("complete"), outputs: z.record(z.string(), z.unknown()).default({}) }),
]);

export const approveBodySchema = z
  .strictObject({ outputs: z.record(z.string(), z.unknown()).default({}) })
  .default({ outputs: {} });

export const rejectBodySchema = z
  .strictObject({ reason: z.string().max(1000).default("") })
  .default({ reason: "" });

export const idempotencyKeySchema = z.string().min(1).max(255);

export function runRoutes(engine: Engine, streams: EventStreamOptions) {
  return new Hono()
    .post("/", async (c) => {
      const request = parseRunBody(await readJson(c));
      const header = c.req.header("idempotency-key");
      const key =
        header === undefined ? undefined : parseWith(idempotencyKeySchema, header, "Idempotency-Key");
      const run = await engine.submitRun(request, key);
      return c.json(
        { run_id: run.runId, status: run.status, pipeline_id: run.pipelineId },
        run.replayed ? 200 : 202,
      );
    })
    .get("/", async (c) => {
      const query = parseWith(listQuerySchema, c.req.query(), "query", "QUERY_INVALID");
      const page = await engine.listRuns({
        limit: query.limit,
        ...(query.status && { status: query.status }),
        ...(query.pipeline_id && { pipelineId: query.pipeline_id }),
        ...(query.cursor && { cursor: Number(query.cursor) }),
      });
      return c.json({
        runs: page.runs.map(runSummaryView),
        next_cursor: page.nextCursor === null ? null : String(page.nextCursor),
      });
    })
    .get("/:runId", async (c) =>
      c.json(runView(await engine.getRunOverview(pathId(c.req.param("runId"), "RUN_NOT_FOUND")))),
    )
    .get("/:runId/nodes", async (c) => {
      const runId = pathId(c.req.param("runId"), "RUN_NOT_FOUND");
      const query = parseWith(nodesQuerySchema, c.req.query(), "query", "QUERY_INVALID");
      const page = await engine.runNodes(runId, {
        after: query.cursor === undefined ? 0 : Number(query.cursor),
        limit: query.limit,
        ...(query.status && { status: query.status }),
      });
      return c.json({
        nodes: page.nodes.map(nodeView),
        next_cursor: page.nextCursor === null ? null : String(page.nextCursor),
      });
    })
    .post("/:runId/cancel", async (c) => {
      const runId = pathId(c.req.param("runId"), "RUN_NOT_FOUND");
      // The run ends cancelled once its running commands have stopped; until then it keeps its status.
      const status = await engine.cancelRun(runId);
      return c.json({ run_id: runId, status, cancel_requested: true }, 202);
    })
    .post("/:runId/pause", async (c) => {
      const runId = pathId(c.req.param("runId"), "RUN_NOT_FOUND");
      const { mode } = parseWith(pauseBodySchema, await readOptionalJson(c), "body");
      // The run is paused once its running nodes have finished (or stopped); until then it keeps its status.
      const status = await engine.pauseRun(runId, mode);
      return c.json({ run_id: runId, status, mode, pause_requested: true }, 202);
    })
    .post("/:runId/resume", async (c) => {
      const runId = pathId(c.req.param("runId"), "RUN_NOT_FOUND");
      return c.json({ run_id: runId, status: await engine.unpauseRun(runId) }, 202);
    })
    .post("/:runId/nodes/:nodeId/recover", async (c) => {
      const runId = pathId(c.req.param("runId"), "RUN_NOT_FOUND");
      const nodeId = c.req.param("nodeId");
      if (!idSchema.safeParse(nodeId).success) {
        throw new RigflowError("NODE_NOT_FOUND", `run ${runId} has no node '${nodeId.slice(0, 80)}'`, {
          run_id: runId,
        });
      }
      const recovery = parseWith(recoverBodySchema, await readJson(c), "body");
      const header = c.req.header("idempotency-key");
      const key =
        header === undefined ? undefined : parseWith(idempotencyKeySchema, header, "Idempotency-Key");
      const status = await engine.recoverNode(runId, nodeId, recovery, key);
      return c.json({ run_id: runId, node_id: nodeId, action: recovery.action, status }, 202);
    })
    .post("/:runId/nodes/:nodeId/approve", async (c) => {
      const { runId, nodeId, key } = nodeAction(c);
      const { outputs } = parseWith(approveBodySchema, await readOptionalJson(c), "body");
      const outcome = await engine.decideApproval(runId, nodeId, { action: "approve", outputs }, key);
      return c.json(decisionView(runId, nodeId, "approve", outcome), 202);
    })
    .post("/:runId/nodes/:nodeId/reject", async (c) => {
      const { runId, nodeId, key } = nodeAction(c);
      const { reason } = parseWith(rejectBodySchema, await readOptionalJson(c), "body");
      const outcome = await engine.decideApproval(runId, nodeId, { action: "reject", reason }, key);
      return c.json(decisionView(runId, nodeId, "reject", outcome), 202);
    })
    .post("/:runId/retry", async (c) => {
      const runId = pathId(c.req.param("runId"), "RUN_NOT_FOUND");
      return c.json({ run_id: runId, status: await engine.resumeRun(runId) }, 202);
    })
    .route("/", runEventRoutes(engine, streams));
}

/** A node action's run and node ids from the path, and its Idempotency-Key. */
function nodeAction(c: Context): { runId: string; nodeId: string; key: string | undefined } {
  const runId = pathId(c.req.param("runId") ?? "", "RUN_NOT_FOUND");
  const nodeId = c.req.param("nodeId") ?? "";
  if (!idSchema.safeParse(nodeId).success) {
    throw new RigflowError("NODE_NOT_FOUND", `run ${runId} has no node '${nodeId.slice(0, 80)}'`, {
      run_id: runId,
    });
  }
  const header = c.req.header("idempotency-key");
  const key = header === undefined ? undefined : parseWith(idempotencyKeySchema, header, "Idempotency-Key");
  return { runId, nodeId, key };
}

function decisionView(
  runId: string,
  nodeId: string,
  decision: "approve" | "reject",
  outcome: { nodeStatus: string; runStatus: string },
) {
  return {
    run_id: runId,
    node_id: nodeId,
    decision,
    node_status: outcome.nodeStatus,
    status: outcome.runStatus,
  };
}
