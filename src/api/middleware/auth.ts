import { timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { errorBody } from "../http-error.js";

/**
 * With a token configured, requires `Authorization: Bearer <token>` (or `?token=` for WebSockets
 * and browser pages). Compares in constant time.
 */
export function requireToken(options: { token: string | undefined }): MiddlewareHandler {
  const expected = options.token ? Buffer.from(options.token) : undefined;
  return async function requireTokenMiddleware(c, next) {
    if (!expected) return next();
    const header = c.req.header("authorization") ?? "";
    const given = header.startsWith("Bearer ") ? header.slice(7) : (c.req.query("token") ?? "");
    const buffer = Buffer.from(given);
    if (buffer.length !== expected.length || !timingSafeEqual(buffer, expected)) {
      return c.json(
        errorBody(
          "UNAUTHORIZED",
          given ? "the API token is not valid" : "this server needs Authorization: Bearer <API_TOKEN>",
        ),
        401,
      );
    }
    return next();
  };
}
