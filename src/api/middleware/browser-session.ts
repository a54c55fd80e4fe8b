import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { errorBody } from "../http-error.js";
import { tokenProblem } from "./auth.js";
import { loginPage } from "./login-page.js";
import { hasSession, sessionCookie, sessionValue } from "./session-cookie.js";

export interface BrowserSessionOptions {
  token: string | undefined;
}

function wantsHtml(c: Context): boolean {
  return (c.req.header("accept") ?? "").includes("text/html");
}

function startSession(c: Context, token: string): void {
  setCookie(c, sessionCookie, sessionValue(token), {
    path: "/",
    httpOnly: true,
    sameSite: "Lax",
    secure: new URL(c.req.url).protocol === "https:" || c.req.header("x-forwarded-proto") === "https",
  });
}

/** Whether `text` has a control character (C0, DEL, C1) or a backslash: browsers drop or reread them. */
function unsafeInPath(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x5c) return true;
  }
  return false;
}

const pathBase = "http://rigflow.invalid";

/**
 * Only a path on this server may follow a login, never `//host`, an absolute URL or anything a
 * browser could read as one (`/\t/host`: browsers drop tabs and newlines, and read `\` as `/`).
 * The path is parsed as a URL against a placeholder origin and must stay on it; what is returned is
 * the parsed path, query and fragment, so what was checked is what the browser is sent to.
 */
export function safeNext(next: unknown): string {
  if (typeof next !== "string" || !next.startsWith("/") || unsafeInPath(next)) return "/";
  let url: URL;
  try {
    url = new URL(next, pathBase);
  } catch {
    return "/";
  }
  if (url.origin !== pathBase) return "/";
  const path = `${url.pathname}${url.search}${url.hash}`;
  // Dot segments can leave a path that starts with `//` ("/.//host"): a browser would leave the site.
  return path.startsWith("/") && !path.startsWith("//") && !unsafeInPath(path) ? path : "/";
}

/**
 * Guards the dashboard and Bull-board. With no token configured it lets everything through. A
 * valid `?token=` on a page load starts a session and redirects to the same URL without the token,
 * so it stays out of the address bar and the history. Without credentials a browser gets a page
 * asking for the token; anything else gets the contract's 401 error body.
 */
export function browserSession(options: BrowserSessionOptions): MiddlewareHandler {
  return async function browserSessionMiddleware(c, next) {
    const { token } = options;
    if (!token) return next();
    if (hasSession(token, getCookie(c, sessionCookie))) return next();
    const queryToken = c.req.query("token");
    const problem = tokenProblem(token, c.req.header("authorization"), queryToken);
    if (!problem) {
      if (queryToken !== undefined && c.req.method === "GET" && wantsHtml(c)) {
        startSession(c, token);
        const url = new URL(c.req.url);
        url.searchParams.delete("token");
        return c.redirect(`${url.pathname}${url.search}`, 303);
      }
      return next();
    }
    if (wantsHtml(c)) {
      const given = queryToken !== undefined || c.req.header("authorization") !== undefined;
      const url = new URL(c.req.url);
      url.searchParams.delete("token");
      return c.html(loginPage(`${url.pathname}${url.search}`, given ? problem : null), 401);
    }
    return c.json(errorBody("UNAUTHORIZED", problem), 401);
  };
}

/** POST /login (a form: token, next) and GET /logout, for people at a browser. */
export function sessionRoutes(options: BrowserSessionOptions) {
  return {
    async login(c: Context) {
      const form = await c.req.parseBody().catch((): Record<string, unknown> => ({}));
      const next = safeNext(form.next);
      const { token } = options;
      if (!token) return c.redirect(next, 303);
      const given = typeof form.token === "string" ? form.token : "";
      const problem = tokenProblem(token, `Bearer ${given}`, undefined);
      if (problem) return c.html(loginPage(next, given ? problem : "enter the API token"), 401);
      startSession(c, token);
      return c.redirect(next, 303);
    },
    logout(c: Context) {
      deleteCookie(c, sessionCookie, { path: "/" });
      return c.redirect("/", 303);
    },
  };
}
