import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import type { Credential } from "./credentials.js";
import type { AccessGate, Refusal } from "./gate.js";
import { sessionCookie } from "./gate.js";
import { addressedAs, type RequestFacts } from "./request-checks.js";

/** Whether the browser reached us over https (directly, or through a trusted proxy). */
function cameOverHttps(facts: RequestFacts, trustedProxies: readonly string[]): boolean {
  return addressedAs(facts, trustedProxies).protocol === "https:";
}

/**
 * Signs a browser in with a credential it proved: a new session in its cookie (HttpOnly,
 * SameSite=Lax, Secure over https) and an audit entry. A browser whose cookie already holds a live
 * session of the same credential keeps it (reloading a `?token=` link makes nothing new). A
 * credential signing in more than 10 times a minute is refused (429): each sign-in is a session
 * and an audit entry, and no token, a viewer's included, may flood either. Resolves the refusal,
 * or null once signed in.
 */
export async function signIn(
  c: Context,
  gate: AccessGate,
  credential: Credential,
  address: string,
  facts: RequestFacts,
): Promise<Refusal | null> {
  const current = getCookie(c, sessionCookie);
  const live = current ? await gate.sessions.peek(current) : null;
  if (live?.credentialId === credential.id) return null;
  const waitMs = await gate.throttle.signInWaitMs(credential.id);
  const who = { actor: credential.name, role: credential.role, address };
  if (waitMs > 0) {
    const retryAfterS = Math.ceil(waitMs / 1000);
    return {
      code: "RATE_LIMITED",
      message: `too many sign-ins with this token; try again in ${retryAfterS} s`,
      retryAfterS,
      ...who,
      credentialFailed: false,
    };
  }
  const sessionId = await gate.sessions.create(credential.id);
  setCookie(c, sessionCookie, sessionId, {
    path: "/",
    httpOnly: true,
    sameSite: "Lax",
    secure: cameOverHttps(facts, gate.settings.trustedProxies),
  });
  await gate.audit.record({ ...who, action: "session.sign_in", target: "", outcome: "ok" });
  return null;
}
