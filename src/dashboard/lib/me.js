// Who the dashboard acts for, and whether that person may change anything: read once at start
// (GET /api/me), so pages build only the controls the server would accept. A viewer is answered
// 403 on every change; showing them buttons that can only fail would be a trap.
import { api, hasSession } from "./api.js";

/** Until loadMe() answers, and when it cannot: a viewer, so no control is built that would be refused. */
let me = { actor: "", role: "viewer", via: "", error: null };

/**
 * Reads GET /api/me; app.js awaits it before the first page is drawn. A failure (401, a server
 * without /api/me, no answer) leaves the viewer fallback and keeps the error for the header: the
 * pages' own calls then say what is wrong in their place.
 */
export async function loadMe() {
  try {
    const answer = await api("/api/me");
    me = {
      actor: typeof answer?.actor === "string" ? answer.actor : "",
      // Anything but "operator" (a role this dashboard does not know yet) reads only.
      role: answer?.role === "operator" ? "operator" : "viewer",
      via: typeof answer?.via === "string" ? answer.via : "",
      error: null,
    };
  } catch (error) {
    me = { actor: "", role: "viewer", via: "", error };
  }
  return me;
}

/** `{actor, role: "operator" | "viewer", via: "open" | "token" | "session" | "", error}`. */
export function whoami() {
  return me;
}

/** Whether to build controls that change something: start, save, retry, cancel. Operators only. */
export function canChange() {
  return me.role === "operator";
}

/**
 * Whether the page rides on the session cookie, so "Sign out" means something. When /api/me did
 * not answer, the page's own mark (a page loaded on the cookie) stands in: a person whose session
 * went bad can still clear it.
 */
export function signedInBySession() {
  return me.via === "session" || (me.error !== null && hasSession);
}
