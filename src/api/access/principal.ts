import type { Role } from "./credentials.js";

/** Who is asking: the name the audit log records, their role, and how they proved it. */
export interface Principal {
  actor: string;
  role: Role;
  /** "open": the server has no token, everyone is an operator; else what carried the credential. */
  via: "open" | "token" | "session";
  address: string;
  /** The session's id, when `via` is "session" (sign-out revokes it). */
  sessionId?: string;
  /** The credential's id (its token's SHA-256), unless `via` is "open". */
  credentialId?: string;
}

export type RefusalCode =
  "UNAUTHORIZED" | "FORBIDDEN" | "ORIGIN_FORBIDDEN" | "HOST_FORBIDDEN" | "RATE_LIMITED";

export interface Refusal {
  code: RefusalCode;
  message: string;
  /** For RATE_LIMITED: seconds until the address may try again. */
  retryAfterS?: number;
  /** Who asked, as far as known (the address at least), for the audit log. */
  actor: string;
  role: Role | "none";
  address: string;
  /** Whether credentials were presented and failed (a guess): the audit log records these. */
  credentialFailed: boolean;
}

export type Admission = { ok: true; principal: Principal } | { ok: false; refusal: Refusal };
