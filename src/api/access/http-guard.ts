import type { Context, MiddlewareHandler } from "hono";
import { getCookie } from "hono/cookie";
import type { Redis } from "ioredis";
import type { RateLimiterRedis } from "rate-limiter-flexible";
import { errorBody } from "../http-error.js";
import { auditAction } from "./audit-actions.js";
import type { AccessGate, Principal, Refusal } from "./gate.js";
import { sessionCookie } from "./gate.js";
import { loginPage } from "./login-page.js";
import { redisLimiter, takePoint } from "./redis-limiter.js";
import { signIn } from "./sign-in.js";
import { changes, type RequestFacts } from "./request-checks.js";

/** What the guard leaves on the context for the routes: who is asking. */
export interface AccessEnv {
  Variables: { principal: Principal };
}

/** The request's facts for the gate, from a Hono context. */
export function factsOf(c: Context): RequestFacts {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return {
    method: c.req.method,
    path: c.req.path,
    upgrade: false,
    // app.request() in tests, and HTTP/1.0, send no Host: the URL's is the one it was given.
    header: (name) => c.req.header(name) ?? (name === "host" ? new URL(c.req.url).host : undefined),
    queryToken: c.req.query("token"),
    remoteAddress: incoming?.socket?.remoteAddress,
    protocol: new URL(c.req.url).protocol,
  };
}

/** The HTTP status of each refusal, for HTTP answers and refused WebSocket upgrades alike. */
export const statusOfRefusal = {
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  ORIGIN_FORBIDDEN: 403,
  HOST_FORBIDDEN: 403,
  RATE_LIMITED: 429,
} as const;

export function refusalResponse(c: Context, refusal: Refusal) {
  const headers: Record<string, string> = {};
  if (refusal.retryAfterS !== undefined) headers["retry-after"] = String(refusal.retryAfterS);
  const details = refusal.retryAfterS !== undefined ? { retry_after_s: refusal.retryAfterS } : {};
  return c.json(errorBody(refusal.code, refusal.message, details), statusOfRefusal[refusal.code], headers);
}

/**
 * How many refusals per address and minute reach the audit log: refused requests cost an attacker
 * nothing (a page can send thousands), and the log keeps a fixed number of entries, so without a
 * bound they could push out the record of what people did.
 */
const refusalsAuditedPerMinute = 30;

/** Writes refusals and changes to the audit log. */
export class AuditTrail {
  private readonly refusals: RateLimiterRedis;

  constructor(
    private readonly gate: AccessGate,
    redis: Redis,
    keyPrefix: string,
  ) {
    this.refusals = redisLimiter(redis, keyPrefix, refusalsAuditedPerMinute, 60);
  }

  /** A refused request, if it is one the log keeps: changes, upgrades, bad credentials, Host and Origin refusals. */
  async refused(facts: RequestFacts, refusal: Refusal): Promise<void> {
    const keep =
      changes(facts.method) || facts.upgrade || refusal.code !== "UNAUTHORIZED" || refusal.credentialFailed;
    if (!keep) return;
    const waitMs = await takePoint(this.refusals, refusal.address).catch(() => 0);
    if (waitMs > 0) return;
    const { action, target } = facts.upgrade
      ? { action: "ws.open", target: "" }
      : changes(facts.method)
        ? auditAction(facts.method, facts.path)
        : { action: "read", target: facts.path.slice(0, 200) };
    await this.gate.audit.record({
      actor: refusal.actor,
      role: refusal.role,
      address: refusal.address,
      action,
      target,
      outcome: refusal.code,
    });
  }

  /** A change that went through the gate, with what came of it. */
  async changed(c: Context, principal: Principal, fallbackTarget?: string): Promise<void> {
    const { action, target } = auditAction(c.req.method, c.req.path);
    await this.gate.audit.record({
      actor: principal.actor,
      role: principal.role,
      address: principal.address,
      action,
      target: target || (await createdId(c)) || fallbackTarget || "",
      outcome: await outcomeOf(c.res),
    });
  }
}

/** "ok" for a 2xx or 3xx, else the error code of the contract's body (or the status). */
async function outcomeOf(response: Response): Promise<string> {
  if (response.status < 400) return "ok";
  const body = (await response
    .clone()
    .json()
    .catch(() => null)) as { error?: { code?: unknown } } | null;
  return typeof body?.error?.code === "string" ? body.error.code : `HTTP_${response.status}`;
}

/** The run or pipeline a submission or save created, from its answer. */
async function createdId(c: Context): Promise<string | undefined> {
  if (c.res.status >= 300 || !(c.res.headers.get("content-type") ?? "").includes("json")) return undefined;
  const body = (await c.res
    .clone()
    .json()
    .catch(() => null)) as { run_id?: unknown; pipeline?: { id?: unknown }; pipeline_id?: unknown } | null;
  const id = body?.run_id ?? body?.pipeline?.id ?? body?.pipeline_id;
  return typeof id === "string" ? id : undefined;
}

function wantsHtml(c: Context): boolean {
  return (c.req.header("accept") ?? "").includes("text/html");
}

/**
 * Guards a route group. Refusals answer in the contract's error shape (a browser loading a page
 * gets the sign-in page instead of a bare 401) and go to the audit log; an admitted change is
 * logged with its outcome once it is answered. `pages`: a page load with `?token=` starts a session
 * and redirects to the same URL without the token, so it leaves the address bar and the history.
 */
export function guard(
  gate: AccessGate,
  trail: AuditTrail,
  options: { pages?: boolean } = {},
): MiddlewareHandler<AccessEnv> {
  return async function guardMiddleware(c, next) {
    const facts = factsOf(c);
    const admission = await gate.admit(facts, getCookie(c, sessionCookie));
    if (!admission.ok) {
      const { refusal } = admission;
      await trail.refused(facts, refusal);
      if (
        options.pages &&
        wantsHtml(c) &&
        (refusal.code === "UNAUTHORIZED" || refusal.code === "RATE_LIMITED")
      ) {
        const url = new URL(c.req.url);
        url.searchParams.delete("token");
        const given = refusal.credentialFailed || c.req.header("authorization") !== undefined;
        const status = refusal.code === "RATE_LIMITED" ? 429 : 401;
        const headers =
          refusal.retryAfterS !== undefined ? { "retry-after": String(refusal.retryAfterS) } : undefined;
        return c.html(
          loginPage(`${url.pathname}${url.search}`, given ? refusal.message : null),
          status,
          headers,
        );
      }
      return refusalResponse(c, refusal);
    }
    const { principal } = admission;
    c.set("principal", principal);
    if (
      options.pages &&
      principal.via === "token" &&
      facts.queryToken !== undefined &&
      c.req.method === "GET" &&
      wantsHtml(c)
    ) {
      return startSessionFromQuery(c, gate, principal);
    }
    await next();
    if (changes(c.req.method)) await trail.changed(c, principal);
  };
}

/** A page load with a valid `?token=`: a session (see sign-in.ts), then the same URL without it. */
async function startSessionFromQuery(c: Context, gate: AccessGate, principal: Principal) {
  const credential = gate.credentials.find(c.req.query("token") ?? "");
  const url = new URL(c.req.url);
  url.searchParams.delete("token");
  const path = `${url.pathname}${url.search}`;
  if (!credential) return c.redirect(path, 303);
  const refused = await signIn(c, gate, credential, principal.address, factsOf(c));
  return refused
    ? c.html(loginPage(path, refused.message), 429, { "retry-after": String(refused.retryAfterS) })
    : c.redirect(path, 303);
}

/**
 * The Host and Origin checks alone, for routes that need no credential: /metrics (read by
 * Prometheus, and by any page through DNS rebinding but for the Host check), sign-in and sign-out.
 */
export function placeGuard(gate: AccessGate, trail: AuditTrail): MiddlewareHandler {
  return async function placeGuardMiddleware(c, next) {
    const facts = factsOf(c);
    const refusal = gate.placeProblem(facts);
    if (!refusal) return next();
    await trail.refused(facts, refusal);
    return refusalResponse(c, refusal);
  };
}
