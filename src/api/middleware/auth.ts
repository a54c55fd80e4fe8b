import { timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { errorBody } from "../http-error.js";

/**
 * What is wrong with a request's token, or null when it may pass: the token comes from
 * `Authorization: Bearer <token>` or else `?token=`. Compares in constant time.
 */
export function tokenProblem(
  token: string | undefined,
  authorization: string | undefined,
  queryToken: string | undefined | null,
): string | null {
  if (!token) return null;
  const expected = Buffer.from(token);
  const header = authorization ?? "";
  const given = header.startsWith("Bearer ") ? header.slice(7) : (queryToken ?? "");
  const buffer = Buffer.from(given);
  if (buffer.length === expected.length && timingSafeEqual(buffer, expected)) return null;
  return given ? "the API token is not valid" : "this server needs Authorization: Bearer <API_TOKEN>";
}

/**
 * With a token configured, requires `Authorization: Bearer <token>` (or `?token=` for WebSockets
 * and browser pages).
 */
export function requireToken(options: { token: string | undefined }): MiddlewareHandler {
  return async function requireTokenMiddleware(c, next) {
    const problem = tokenProblem(options.token, c.req.header("authorization"), c.req.query("token"));
    if (problem) return c.json(errorBody("UNAUTHORIZED", problem), 401);
    return next();
  };
}
