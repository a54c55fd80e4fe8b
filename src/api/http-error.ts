import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { errorCodes, type ErrorKind, type RigflowError } from "../engine/index.js";

/** The HTTP status of each kind of error. */
export const statusOfKind: Record<ErrorKind, ContentfulStatusCode> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  too_large: 413,
  too_many: 429,
  unsupported: 415,
  unavailable: 503,
  node: 500,
  internal: 500,
};

export function statusOf(error: RigflowError): ContentfulStatusCode {
  return statusOfKind[errorCodes[error.code].kind];
}

/** The contract's one error shape, for every error the API answers with. */
export function errorBody(code: string, message: string, details: Record<string, unknown> = {}) {
  return { error: { code, message, details } };
}

export function sendError(c: Context, error: RigflowError) {
  const retryAfter = error.details.retry_after_s;
  const headers = typeof retryAfter === "number" ? { "retry-after": String(retryAfter) } : undefined;
  return c.json(errorBody(error.code, error.message, error.details), statusOf(error), headers);
}
