import { timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { errorBody } from "../http-error.js";
import { firstValue, sessionCounts } from "./session-cookie.js";

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
 * With a token configured, requires `Authorization: Bearer <token>` (or `?token=`), or the
 * dashboard's session cookie from this server's own pages (session-cookie.ts): so the dashboard's
 * page need not be handed the token itself. A request that changes something must name its Origin
 * to pass on the cookie; a browser always does.
 */
export function requireToken(options: { token: string | undefined }): MiddlewareHandler {
  return async function requireTokenMiddleware(c, next) {
    const { token } = options;
    const problem = tokenProblem(token, c.req.header("authorization"), c.req.query("token"));
    if (!problem || !token) return next();
    const session = sessionCounts(token, {
      cookie: c.req.header("cookie"),
      origin: c.req.header("origin"),
      hosts: [c.req.header("host"), firstValue(c.req.header("x-forwarded-host"))],
      originRequired: c.req.method !== "GET" && c.req.method !== "HEAD",
    });
    if (session === true) return next();
    return c.json(errorBody("UNAUTHORIZED", session ?? problem), 401);
  };
}
