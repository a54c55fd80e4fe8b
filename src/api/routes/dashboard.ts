import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, extname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { Hono, type Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie } from "hono/cookie";
import { RigflowError, type Engine } from "../../engine/index.js";
import { errorBody } from "../http-error.js";
import { browserSession, sessionRoutes } from "../middleware/browser-session.js";
import { hasSession, sessionCookie } from "../middleware/session-cookie.js";
import { escapeHtml } from "../middleware/login-page.js";
import { pathId } from "../validation.js";
import { bullBoardPath, bullBoardRoutes } from "./bull-board.js";

export interface DashboardOptions {
  engine: Engine;
  apiToken: string | undefined;
}

/** The single-page app's paths: the server answers each with index.html, the page routes itself. */
export const dashboardPages = ["/", "/runs", "/runs/:runId", "/devices", "/pipelines", "/pipelines/:id"];

interface Asset {
  body: Uint8Array<ArrayBuffer>;
  type: string;
  etag: string;
}

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
};

function asset(path: string): Asset {
  const body = new Uint8Array(readFileSync(path));
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
  return { body, type: contentTypes[extname(path)] ?? "application/octet-stream", etag };
}

/**
 * The files under src/dashboard, read once at start-up: only these names are ever served, so no
 * request path reaches the file system. The layout library comes from node_modules, as shipped.
 */
function loadAssets(): Map<string, Asset> {
  const root = fileURLToPath(new URL("../../dashboard/", import.meta.url));
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(root, { recursive: true, encoding: "utf8" })) {
    const path = join(root, name);
    if (!(extname(name) in contentTypes) || !statSync(path).isFile()) continue;
    assets.set(name.split(sep).join("/"), asset(path));
  }
  const dagre = dirname(createRequire(import.meta.url).resolve("@dagrejs/dagre/package.json"));
  assets.set("vendor/dagre.js", asset(join(dagre, "dist", "dagre.esm.js")));
  return assets;
}

/** Pages may talk only to this server (fetch and the WebSocket); no inline script or style. */
const securityHeaders = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
};

function sendAsset(c: Context, found: Asset, cacheControl: string) {
  if (c.req.header("if-none-match") === found.etag) return c.body(null, 304, { etag: found.etag });
  return c.body(found.body, 200, {
    "content-type": found.type,
    etag: found.etag,
    "cache-control": cacheControl,
    ...securityHeaders,
  });
}

/**
 * The run's DAG as the run stored it (its own copy of the pipeline): GET /api/runs/{id} lists the
 * nodes but not the edges, and the pipeline may since have been edited or deleted.
 */
async function runGraph(engine: Engine, runId: string) {
  const run = await engine.runs.loadRun(pathId(runId, "RUN_NOT_FOUND"));
  if (!run) throw new RigflowError("RUN_NOT_FOUND", `no run '${runId}'`, { run_id: runId });
  const { plan } = run;
  return {
    run_id: runId,
    pipeline_id: plan.pipelineId,
    pipeline_name: plan.pipelineName,
    nodes: plan.nodes.map((node) => ({
      node_id: node.id,
      device_id: node.deviceId,
      function_id: node.functionId,
      params: node.params,
    })),
    edges: plan.nodes.flatMap((node) =>
      node.predecessors.map((source) => ({
        source,
        target: node.id,
        data: node.inputs
          .filter((input) => input.sourceNode === source)
          .map((input) => ({ source_output: input.sourceOutput, target_input: input.input })),
      })),
    ),
  };
}

/**
 * Rigflow's dashboard (plain HTML and ES modules from src/dashboard, no build step) and Bull-board at
 * /admin/queues, both behind the API token when one is set (see browser-session.ts).
 */
export function dashboardRoutes(options: DashboardOptions) {
  const { engine, apiToken } = options;
  const assets = loadAssets();
  const index = assets.get("index.html");
  if (!index) throw new Error("src/dashboard/index.html is missing");
  const indexTemplate = new TextDecoder().decode(index.body);
  const guard = browserSession({ token: apiToken });
  const session = sessionRoutes({ token: apiToken });
  const app = new Hono();
  app.post(
    "/login",
    bodyLimit({
      maxSize: 4096,
      onError: (c) => c.json(errorBody("PAYLOAD_TOO_LARGE", "a sign-in is small"), 413),
    }),
    (c) => session.login(c),
  );
  app.get("/logout", (c) => session.logout(c));
  for (const path of [...dashboardPages, "/dashboard/*", bullBoardPath, `${bullBoardPath}/*`]) {
    app.use(path, guard);
  }
  // A page loaded with the session cookie (every browser's, once signed in) gets no token: its
  // scripts' /api calls and its /ws upgrade ride on the cookie, which the API and the hub accept
  // from this server's own pages only (session-cookie.ts), so no script on the page can read the
  // token and no URL carries it. A page loaded with the token itself (Bearer, a client without
  // cookies) is handed it, as its scripts have nothing else; it is never cached.
  const fill = (token: string, session: string) =>
    indexTemplate
      .replace("__RIGFLOW_TOKEN__", () => escapeHtml(token))
      .replace("__RIGFLOW_SESSION__", session);
  const pages = { session: fill("", "1"), none: fill(apiToken ?? "", "") };
  for (const path of dashboardPages) {
    app.get(path, (c) => {
      const session = apiToken !== undefined && hasSession(apiToken, getCookie(c, sessionCookie));
      return c.html(session ? pages.session : pages.none, 200, {
        "cache-control": "no-store",
        ...securityHeaders,
      });
    });
  }
  app.get("/dashboard/api/runs/:runId/graph", async (c) =>
    c.json(await runGraph(engine, c.req.param("runId")), 200, { "cache-control": "no-store" }),
  );
  app.get("/dashboard/*", (c) => {
    const name = c.req.path.slice("/dashboard/".length);
    const found = name === "index.html" ? undefined : assets.get(name);
    if (!found) {
      return c.json(errorBody("NOT_FOUND", `no dashboard file '${name}'`), 404);
    }
    return sendAsset(c, found, name.startsWith("vendor/") ? "public, max-age=3600" : "no-cache");
  });
  app.route(bullBoardPath, bullBoardRoutes(engine));
  return app;
}
