import { createHmac, timingSafeEqual } from "node:crypto";
import { parse as parseCookies } from "hono/utils/cookie";

/**
 * A browser cannot set `Authorization` on a page load, and Bull-board's own UI calls its API with
 * plain same-origin fetches: so, besides the Bearer header and `?token=`, the dashboard works on a
 * session cookie. The cookie holds an HMAC of the token, not the token, and is HttpOnly and
 * SameSite=Lax (set in browser-session.ts).
 */
export const sessionCookie = "rigflow_session";

/** The cookie value that a given token opens: stable across restarts. */
export function sessionValue(token: string): string {
  return createHmac("sha256", token).update("rigflow dashboard session v1").digest("hex");
}

/** Whether `cookie` (the rigflow_session cookie's value) is the session that `token` opens. */
export function hasSession(token: string, cookie: string | undefined): boolean {
  if (!cookie) return false;
  const expected = Buffer.from(sessionValue(token));
  const given = Buffer.from(cookie);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** What a request says of where it comes from, as far as a session needs. */
export interface SessionRequest {
  /** The Cookie header. */
  cookie: string | undefined;
  origin: string | undefined;
  /** The Host header and the first X-Forwarded-Host (behind a proxy). */
  hosts: (string | undefined)[];
  /**
   * Whether the request must name its Origin: a browser sends one with every WebSocket and every
   * request that changes something, but not with a same-origin GET.
   */
  originRequired: boolean;
}

/**
 * Whether a request may pass on the session cookie: `true`; `null` when it has no session (the
 * caller says what credentials it wants); or why the session does not count. Browsers send the
 * cookie with a WebSocket any site opens, and SameSite=Lax still lets a cross-site form's top-level
 * navigation carry it, so it counts only with an Origin that is this server (its Host, or
 * X-Forwarded-Host behind a proxy), or with none where a browser sends none (a same-origin GET,
 * which another site could not read the answer of anyway).
 */
export function sessionCounts(token: string, request: SessionRequest): true | null | string {
  const cookie = parseCookies(request.cookie ?? "", sessionCookie)[sessionCookie];
  if (!hasSession(token, cookie)) return null;
  const { origin } = request;
  if (origin === undefined) {
    return request.originRequired ? "a session cookie is accepted here only with an Origin header" : true;
  }
  if (request.hosts.some((host) => sameHost(origin, host))) return true;
  return `a session cookie is accepted only from this server's own pages, not from ${origin.slice(0, 200)}`;
}

/** The first value of a header that may be repeated or a comma-separated list. */
export function firstValue(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  return value?.split(",")[0]?.trim() || undefined;
}

/** Whether `origin` (scheme://host[:port]) names `host` (a Host header: host[:port]). */
function sameHost(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  try {
    const from = new URL(origin);
    if (from.protocol !== "http:" && from.protocol !== "https:") return false;
    return new URL(`${from.protocol}//${host}`).host === from.host;
  } catch {
    return false;
  }
}
