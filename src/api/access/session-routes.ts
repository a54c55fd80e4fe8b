import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { deleteCookie, getCookie } from "hono/cookie";
import { errorBody } from "../http-error.js";
import type { AccessGate } from "./gate.js";
import { sessionCookie } from "./gate.js";
import { factsOf, placeGuard, type AuditTrail } from "./http-guard.js";
import { loginPage, signOutPage } from "./login-page.js";
import { safeNext } from "./safe-next.js";
import { signIn } from "./sign-in.js";

/**
 * POST /login (a form: token, next), and sign-out: GET /logout asks, POST /logout revokes the
 * session in Redis at once (every API process refuses it from then on) and clears the cookie. Both
 * posts pass the Host and Origin checks, so another site cannot sign a visitor in or out.
 */
export function sessionRoutes(gate: AccessGate, trail: AuditTrail) {
  const app = new Hono();
  const checkPlace = placeGuard(gate, trail);
  app.post(
    "/login",
    checkPlace,
    bodyLimit({
      maxSize: 4096,
      onError: (c) => c.json(errorBody("PAYLOAD_TOO_LARGE", "a sign-in is small"), 413),
    }),
    async (c) => {
      const form = await c.req.parseBody().catch((): Record<string, unknown> => ({}));
      const next = safeNext(form.next);
      if (!gate.enabled) return c.redirect(next, 303);
      const address = gate.addressOf(factsOf(c));
      const throttled = await gate.throttled(address);
      if (throttled) {
        await trail.refused(factsOf(c), throttled);
        return c.html(loginPage(next, throttled.message), 429, {
          "retry-after": String(throttled.retryAfterS),
        });
      }
      const given = typeof form.token === "string" ? form.token : "";
      const credential = given ? gate.credentials.find(given) : null;
      if (!credential) {
        if (!given) return c.html(loginPage(next, "enter your token"), 401);
        await gate.recordFailure(address);
        await gate.audit.record({
          actor: "anonymous",
          role: "none",
          address,
          action: "session.sign_in",
          target: "",
          outcome: "UNAUTHORIZED",
        });
        return c.html(loginPage(next, "the token is not valid"), 401);
      }
      const refused = await signIn(c, gate, credential, address, factsOf(c));
      if (refused) {
        await trail.refused(factsOf(c), refused);
        return c.html(loginPage(next, refused.message), 429, { "retry-after": String(refused.retryAfterS) });
      }
      return c.redirect(next, 303);
    },
  );
  app.get("/logout", (c) => c.html(signOutPage(), 200, { "cache-control": "no-store" }));
  app.post("/logout", checkPlace, async (c) => {
    const sessionId = getCookie(c, sessionCookie);
    if (sessionId) {
      const session = await gate.sessions.use(sessionId);
      const credential = session ? gate.credentials.byId(session.credentialId) : null;
      await gate.sessions.revoke(sessionId);
      if (session) {
        await gate.audit.record({
          actor: credential?.name ?? "anonymous",
          role: credential?.role ?? "none",
          address: gate.addressOf(factsOf(c)),
          action: "session.sign_out",
          target: "",
          outcome: "ok",
        });
      }
    }
    deleteCookie(c, sessionCookie, { path: "/" });
    return c.redirect("/", 303);
  });
  return app;
}
