import { Hono } from "hono";
import { z } from "zod";
import type { Engine } from "../../engine/index.js";
import { readJson } from "../middleware/json-body.js";
import { parseWith } from "../validation.js";
import { seedExecuteView } from "../wire.js";
import { parseExecuteBody } from "./run-request.js";

export const querySchema = z.object({ timeout_s: z.coerce.number().min(0).max(3600).default(60) });

/**
 * The seed's POST /api/pipelines/execute: runs the pipeline as any other run, and waits for it to
 * end. If the wait runs out, answers 202 with the run's id; the run goes on.
 */
export function executeRoute(engine: Engine) {
  return new Hono().post("/", async (c) => {
    const { timeout_s: timeoutS } = parseWith(querySchema, c.req.query(), "query", "QUERY_INVALID");
    const run = await engine.submitRun(parseExecuteBody(await readJson(c)));
    const state = await engine.waitForRun(run.runId, timeoutS * 1000);
    if (state.status === "queued" || state.status === "running") {
      return c.json({ run_id: state.runId, status: state.status, pipeline_id: state.pipelineId }, 202);
    }
    return c.json(seedExecuteView(state), 200);
  });
}
