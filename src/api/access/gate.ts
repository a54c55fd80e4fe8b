import type { Logger } from "pino";
import type { AuditLog } from "./audit-log.js";
import type { ChangeRate } from "./change-rate.js";
import type { CredentialBook } from "./credentials.js";
import type { Admission, Principal, Refusal } from "./principal.js";
import {
  changes,
  clientAddress,
  hostProblem,
  originProblem,
  sentByAnotherSite,
  type RequestFacts,
} from "./request-checks.js";
import type { SessionStore } from "./sessions.js";
import type { AccessSettings } from "./settings.js";
import { tokensConfigured } from "./settings.js";
import type { SignInThrottle } from "./sign-in-throttle.js";

export type { Admission, Principal, Refusal, RefusalCode } from "./principal.js";

export const sessionCookie = "rigflow_session";

/** What a route group asks of a request beyond the Host and Origin checks. */
export interface GateRules {
  /** Whether a credential is needed (false: /metrics, sign-in, sign-out). */
  authenticate: boolean;
}

/**
 * The one place that decides whether a request goes on, for every route group: the HTTP API, SSE,
 * the dashboard and Bull-board (through http-guard.ts) and the /ws upgrade (ws/hub.ts). In order:
 * the Host (no token configured), the Origin (changes and /ws, always), the credential (a token,
 * else a session cookie), the throttle on failed credentials, and the role.
 */
export class AccessGate {
  readonly enabled: boolean;

  constructor(
    readonly settings: AccessSettings,
    readonly credentials: CredentialBook,
    readonly sessions: SessionStore,
    readonly throttle: SignInThrottle,
    readonly audit: AuditLog,
    private readonly changeRate: ChangeRate,
    readonly log: Logger,
  ) {
    this.enabled = tokensConfigured(settings);
  }

  /** The address a request is counted and audited under. */
  addressOf(facts: RequestFacts): string {
    return clientAddress(facts, this.settings.trustedProxies);
  }

  /** The Host and Origin checks alone, for routes open to all (sign-in, /metrics). */
  placeProblem(facts: RequestFacts): Refusal | null {
    const address = this.addressOf(facts);
    const anonymous = { actor: "anonymous", role: "none" as const, address, credentialFailed: false };
    if (!this.enabled) {
      const host = hostProblem(facts, this.settings.allowedHosts);
      if (host) return { code: "HOST_FORBIDDEN", message: host, ...anonymous };
    }
    const origin = originProblem(facts, this.settings);
    if (origin) return { code: "ORIGIN_FORBIDDEN", message: origin, ...anonymous };
    return null;
  }

  /** Whether a request goes on: the checks of `allowed`, then, for a change, RATE_LIMIT_PER_MIN. */
  async admit(facts: RequestFacts, sessionId: string | undefined): Promise<Admission> {
    const admission = await this.allowed(facts, sessionId);
    if (!admission.ok || !changes(facts.method)) return admission;
    const refusal = await this.changeRate.check(admission.principal);
    return refusal ? { ok: false, refusal } : admission;
  }

  private async allowed(facts: RequestFacts, sessionId: string | undefined): Promise<Admission> {
    const placed = this.placeProblem(facts);
    if (placed) return { ok: false, refusal: placed };
    const address = this.addressOf(facts);
    if (!this.enabled)
      return { ok: true, principal: { actor: "anonymous", role: "operator", via: "open", address } };
    const principal = await this.identify(facts, sessionId, address);
    if (!("role" in principal && "via" in principal)) return { ok: false, refusal: principal };
    // Browsers name the Origin of every change; a change on the cookie without one did not come
    // from a browser we can check, and a cookie is a browser's credential.
    if (
      principal.via === "session" &&
      changes(facts.method) &&
      !facts.header("origin") &&
      facts.header("sec-fetch-site") !== "same-origin"
    ) {
      return {
        ok: false,
        refusal: {
          code: "ORIGIN_FORBIDDEN",
          message: "a change on the session cookie must name its Origin (a browser always does)",
          actor: principal.actor,
          role: principal.role,
          address,
          credentialFailed: false,
        },
      };
    }
    if (principal.role === "viewer" && changes(facts.method)) {
      return {
        ok: false,
        refusal: {
          code: "FORBIDDEN",
          message: `${principal.actor} is a viewer: viewers read everything and change nothing`,
          actor: principal.actor,
          role: principal.role,
          address,
          credentialFailed: false,
        },
      };
    }
    return { ok: true, principal };
  }

  /** A token is checked before a session: a client that sends one means it. */
  private async identify(
    facts: RequestFacts,
    sessionId: string | undefined,
    address: string,
  ): Promise<Principal | Refusal> {
    const anonymous = { actor: "anonymous", role: "none" as const, address };
    // A `?token=` sent by another site's page (an <img>, a link) is not read: it could only be
    // there to lock this address out with failures, or to sign a visitor in as someone else.
    const queryToken = sentByAnotherSite(facts, this.settings) ? undefined : facts.queryToken;
    const token = bearerToken(facts.header("authorization")) ?? queryToken;
    if (token !== undefined) {
      const throttled = await this.throttled(address);
      if (throttled) return throttled;
      const credential = this.credentials.find(token);
      if (credential) {
        return {
          actor: credential.name,
          role: credential.role,
          via: "token",
          address,
          credentialId: credential.id,
        };
      }
      await this.recordFailure(address);
      return {
        code: "UNAUTHORIZED",
        message: "the token is not valid",
        ...anonymous,
        credentialFailed: true,
      };
    }
    if (sessionId) {
      const session = await this.sessions.use(sessionId);
      const credential = session ? this.credentials.byId(session.credentialId) : null;
      if (credential)
        return {
          actor: credential.name,
          role: credential.role,
          via: "session",
          address,
          sessionId,
          credentialId: credential.id,
        };
      // Its token was removed from the configuration: the session ends with it.
      if (session) await this.sessions.revoke(sessionId);
      return {
        code: "UNAUTHORIZED",
        message: "the session has ended (signed out, expired, or its token was removed); sign in again",
        ...anonymous,
        credentialFailed: false,
      };
    }
    return {
      code: "UNAUTHORIZED",
      message:
        "this server needs Authorization: Bearer <token> (API_TOKEN, API_READ_TOKEN or one of API_TOKENS_FILE)",
      ...anonymous,
      credentialFailed: false,
    };
  }

  /**
   * Whether an admitted client may still hold what it opened (a WebSocket, an SSE stream): its
   * session is still open, or its token still configured. Does not extend a session.
   */
  async stillAdmitted(principal: Principal): Promise<boolean> {
    if (principal.via === "open") return true;
    if (principal.sessionId) return this.sessionIsLive(principal.sessionId);
    return principal.credentialId !== undefined && this.credentials.byId(principal.credentialId) !== null;
  }

  /** Whether a session is still open and its token still configured; does not extend it. */
  async sessionIsLive(sessionId: string): Promise<boolean> {
    const session = await this.sessions.peek(sessionId);
    return session !== null && this.credentials.byId(session.credentialId) !== null;
  }

  /** The refusal for an address past its failed sign-ins, or null. */
  async throttled(address: string): Promise<Refusal | null> {
    const waitMs = await this.throttle.blockedForMs(address);
    if (waitMs === 0) return null;
    const retryAfterS = Math.ceil(waitMs / 1000);
    return {
      code: "RATE_LIMITED",
      message: `too many failed sign-ins or bad tokens from ${address}; try again in ${retryAfterS} s`,
      retryAfterS,
      actor: "anonymous",
      role: "none",
      address,
      credentialFailed: true,
    };
  }

  /** Counts a failed credential; a Redis failure here must not turn a 401 into a 500. */
  async recordFailure(address: string): Promise<void> {
    await this.throttle
      .recordFailure(address)
      .catch((error: unknown) => this.log.warn({ err: error }, "counting a failed sign-in failed"));
  }
}

function bearerToken(authorization: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "");
  return match?.[1];
}
