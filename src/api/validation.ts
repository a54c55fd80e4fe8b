import type { z } from "zod";
import { shapeError, idSchema, RigflowError } from "../engine/index.js";

/** Parses input with a schema; the first problem becomes a 400 naming where it is. */
export function parseWith<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
  code: "VALIDATION_FAILED" | "QUERY_INVALID" = "VALIDATION_FAILED",
): z.output<T> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw shapeError(code, parsed.error, what);
  return parsed.data;
}

/** Path ids are checked before they reach a Redis key: a bad one is simply not found. */
export function pathId(value: string, notFound: "PIPELINE_NOT_FOUND" | "RUN_NOT_FOUND"): string {
  if (!idSchema.safeParse(value).success) {
    const what = notFound === "PIPELINE_NOT_FOUND" ? "pipeline" : "run";
    throw new RigflowError(notFound, `no ${what} '${value.slice(0, 80)}'`, { id: value.slice(0, 80) });
  }
  return value;
}
