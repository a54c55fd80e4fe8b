import { z } from "zod";
import { idSchema, runTimeoutSchema, type RunRequest } from "../../engine/index.js";
import { parseWith } from "../validation.js";

export const paramsSchema = z.record(idSchema, z.record(z.string(), z.unknown())).optional();

export const runBodySchema = z
  .object({
    pipeline_id: idSchema.optional(),
    pipeline: z.unknown().optional(),
    params: paramsSchema,
    reserve_devices: z.boolean().optional(),
    timeout_ms: runTimeoutSchema.optional(),
  })
  .strict()
  .refine((body) => (body.pipeline_id === undefined) !== (body.pipeline === undefined), {
    message: "give exactly one of pipeline_id (a saved pipeline) or pipeline (a pipeline document)",
  });

/** POST /api/runs: `{"pipeline_id"}` or `{"pipeline"}`, with optional per-node `params`. */
export function parseRunBody(body: unknown): RunRequest {
  const parsed = parseWith(runBodySchema, body, "body");
  return {
    ...(parsed.pipeline_id !== undefined && { pipelineId: parsed.pipeline_id }),
    ...(parsed.pipeline !== undefined && { document: parsed.pipeline }),
    ...(parsed.params && { params: parsed.params }),
    ...(parsed.reserve_devices !== undefined && { reserveDevices: parsed.reserve_devices }),
    ...(parsed.timeout_ms !== undefined && { timeoutMs: parsed.timeout_ms }),
  };
}

/** The seed's execute body: a pipeline document itself, or `{"pipeline_id"}`. */
export function parseExecuteBody(body: unknown): RunRequest {
  if (
    body !== null &&
    typeof body === "object" &&
    !Array.isArray(body) &&
    !("nodes" in body) &&
    "pipeline_id" in body
  ) {
    return parseRunBody(body);
  }
  return { document: body };
}
