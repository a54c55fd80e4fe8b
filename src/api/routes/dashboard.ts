import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, extname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { Hono, type Context } from "hono";
import { secureHeaders } from "hono/secure-headers";
import { RigflowError, type Engine } from "../../engine/index.js";
import { guard, type Access, type AccessEnv } from "../access/index.js";
import { escapeHtml, inlineStyleHash } from "../access/login-page.js";
import { sessionRoutes } from "../access/session-routes.js";
import { errorBody } from "../http-error.js";
import { pathId } from "../validation.js";
import { bullBoardPath, bullBoardRoutes } from "./bull-board.js";

export interface DashboardOptions {
  engine: Engine;
  access: Access;
}

/** The single-page app's paths: the server answers each with index.html, the page routes itself. */
export const dashboardPages = [
  "/",
  "/runs",
  "/runs/:runId",
  "/devices",
  "/pipelines",
  "/pipelines/:id",
  "/audit",
];

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

/**
 * The dashboard's pages may talk only to this server (fetch and the WebSocket), run no inline
 * script, and be framed by nobody (clickjacking); the sign-in page's one inline style is allowed by
 * its hash. Hono's secure-headers also sends nosniff, a same-origin referrer policy and the rest of
 * its defaults.
 */
const dashboardHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", inlineStyleHash],
    imgSrc: ["'self'", "data:"],
    connectSrc: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    objectSrc: ["'none'"],
  },
  xFrameOptions: "DENY",
  referrerPolicy: "same-origin",
  strictTransportSecurity: false,
});

/**
 * Bull-board's page needs its inline styles and its <base href>; it runs only its own scripts
 * from this server, and is framed by nobody.
 */
const bullBoardHeaders = secureHeaders({
  contentSecurityPolicy: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'", "'unsafe-inline'"],
    imgSrc: ["'self'", "data:"],
    fontSrc: ["'self'", "data:"],
    connectSrc: ["'self'"],
    frameAncestors: ["'none'"],
    baseUri: ["'self'"],
    formAction: ["'self'"],
    objectSrc: ["'none'"],
  },
  xFrameOptions: "DENY",
  referrerPolicy: "same-origin",
  strictTransportSecurity: false,
});

function sendAsset(c: Context, found: Asset, cacheControl: string) {
  if (c.req.header("if-none-match") === found.etag) return c.body(null, 304, { etag: found.etag });
  return c.body(found.body, 200, {
    "content-type": found.type,
    etag: found.etag,
    "cache-control": cacheControl,
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
      device_id: node.deviceId || null,
      function_id: node.functionId,
      params: node.params,
      // The outputs, by name: the fields of a held node's completion form, or an approval's.
      outputs: node.approval
        ? Object.keys(node.approval.outputs)
        : Object.keys(engine.catalog.functionOf(node.driver, node.functionId)?.outputs ?? {}),
      ...(node.approval && {
        type: "approval",
        message: node.approval.message,
        output_types: node.approval.outputs,
      }),
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
 * Rigflow's dashboard (plain HTML and ES modules from src/dashboard, no build step), sign-in and
 * sign-out, and Bull-board at /admin/queues, behind the access guard (access/gate.ts).
 */
export function dashboardRoutes(options: DashboardOptions) {
  const { engine, access } = options;
  const assets = loadAssets();
  const index = assets.get("index.html");
  if (!index) throw new Error("src/dashboard/index.html is missing");
  const indexTemplate = new TextDecoder().decode(index.body);
  const app = new Hono<AccessEnv>();
  for (const path of ["/login", "/logout", ...dashboardPages, "/dashboard/*"])
    app.use(path, dashboardHeaders);
  for (const path of [bullBoardPath, `${bullBoardPath}/*`]) app.use(path, bullBoardHeaders);
  app.route("/", sessionRoutes(access.gate, access.trail));
  const pageGuard = guard(access.gate, access.trail, { pages: true });
  for (const path of [...dashboardPages, "/dashboard/*", bullBoardPath, `${bullBoardPath}/*`]) {
    app.use(path, pageGuard);
  }
  // A page loaded on the session cookie (every browser's, once signed in) or with no token
  // configured gets no token: its scripts' /api calls and its /ws upgrade ride on the cookie, so
  // no script on the page can read the token and no URL carries it. A page loaded with a token in
  // Authorization (a client without cookies) is handed that token, as its scripts have nothing
  // else; it is never cached.
  const fill = (token: string, session: string) =>
    indexTemplate
      .replace("__RIGFLOW_TOKEN__", () => escapeHtml(token))
      .replace("__RIGFLOW_SESSION__", session);
  const withSession = fill("", "1");
  const withoutToken = fill("", "");
  for (const path of dashboardPages) {
    app.get(path, (c) => {
      const { via } = c.get("principal");
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1];
      const page =
        via === "session" ? withSession : via === "token" && bearer ? fill(bearer, "") : withoutToken;
      return c.html(page, 200, { "cache-control": "no-store" });
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
