import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Logger } from "pino";
import { isRedisFull, isRigflowError, type Engine } from "../engine/index.js";
import { errorBody, sendError } from "./http-error.js";
import { SseStreams } from "./live/sse-streams.js";
import { StreamQuota } from "./live/stream-quota.js";

/** MAX_STREAMS_PER_CLIENT's default. */
export const defaultMaxStreamsPerClient = 100;
import { ApiMetrics } from "./metrics/api-metrics.js";
import {
  createAccess,
  defaultAccessSettings,
  guard,
  type Access,
  type AccessEnv,
  type AccessSettings,
} from "./access/index.js";
import { placeGuard } from "./access/http-guard.js";
import { accessRoutes } from "./routes/access.js";
import { dashboardRoutes } from "./routes/dashboard.js";
import { deviceRoutes } from "./routes/devices.js";
import { executeRoute } from "./routes/execute.js";
import { healthRoutes } from "./routes/health.js";
import { metricsRoutes } from "./routes/metrics.js";
import { openApiRoutes } from "./routes/openapi.js";
import { pipelineRoutes } from "./routes/pipelines.js";
import { queueRoutes } from "./routes/queues.js";
import { createQueueAdmin, type QueueAdmin } from "../queues/index.js";
import { runRoutes } from "./routes/runs.js";

export interface AppOptions {
  engine: Engine;
  log: Logger;
  /** Tokens, origins, hosts, sessions (docs/contract.md, "Access"); unset fields take the defaults. */
  access?: Partial<AccessSettings>;
  /** Shorthand for `access.apiToken`. */
  apiToken?: string | undefined;
  maxBodyBytes: number;
  /** The process's SSE streams, fed by its EventTail (server.ts); without it they only replay. */
  sse?: SseStreams;
  /** MAX_STREAMS_PER_CLIENT, shared with the WebSocket hub (server.ts); 100 a client by default. */
  streamQuota?: StreamQuota;
  /** GET /metrics, fed by the EventTail (server.ts); without it only the scrape-time figures move. */
  metrics?: ApiMetrics;
  /** The queue routes' and the metrics' view of BullMQ's queues; one of its own if absent. */
  queueAdmin?: QueueAdmin;
}

/** The access settings an app is built with: the defaults, the options, and the `apiToken` shorthand. */
export function accessSettingsOf(options: Pick<AppOptions, "access" | "apiToken">): AccessSettings {
  return {
    ...defaultAccessSettings,
    ...options.access,
    apiToken: options.access?.apiToken ?? options.apiToken,
  };
}

/**
 * The HTTP API: routes, access, limits, and the one place errors become responses. Route groups
 * and their guards: /healthz and /readyz are open to all (probes); /metrics, /openapi.json and
 * /docs pass the Host check only (counts and names, and the API's own description, never job data); sign-in and sign-out pass the Host and Origin
 * checks; /api/* (SSE included), the dashboard and Bull-board need a credential (access/gate.ts).
 */
export function createApp(options: AppOptions & { accessHandle?: Access }) {
  const { engine, log } = options;
  const access =
    options.accessHandle ?? createAccess(engine.redis, engine.keys, accessSettingsOf(options), log);
  const queueAdmin = options.queueAdmin ?? createQueueAdmin(engine);
  const app = new Hono<AccessEnv>();
  app.route("/", healthRoutes(engine));
  app.use("/metrics", placeGuard(access.gate, access.trail));
  app.route("/", metricsRoutes(options.metrics ?? new ApiMetrics(engine, queueAdmin.inspector)));
  for (const path of ["/openapi.json", "/docs", "/docs/*"])
    app.use(path, placeGuard(access.gate, access.trail));
  app.route("/", openApiRoutes());
  app.use("/api/*", guard(access.gate, access.trail));
  app.use(
    "/api/*",
    bodyLimit({
      maxSize: options.maxBodyBytes,
      onError: (c) =>
        c.json(
          errorBody("PAYLOAD_TOO_LARGE", `the body is over ${options.maxBodyBytes} bytes`, {
            limit: options.maxBodyBytes,
          }),
          413,
        ),
    }),
  );
  app.route("/api/pipelines/execute", executeRoute(engine));
  app.route("/api/pipelines", pipelineRoutes(engine));
  app.route(
    "/api/runs",
    runRoutes(engine, {
      sse: options.sse ?? new SseStreams(engine),
      stillAdmitted: (principal) => access.gate.stillAdmitted(principal),
      quota: options.streamQuota ?? new StreamQuota(defaultMaxStreamsPerClient),
    }),
  );
  app.route("/api", deviceRoutes(engine));
  app.route("/api/queues", queueRoutes(queueAdmin));
  app.route("/api", accessRoutes(access.gate));
  // The dashboard's pages and assets, sign-in and sign-out, and Bull-board at /admin/queues.
  app.route("/", dashboardRoutes({ engine, access }));
  app.notFound((c) => c.json(errorBody("NOT_FOUND", `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError((error, c) => {
    if (isRigflowError(error)) return sendError(c, error);
    if (isRedisFull(error)) {
      log.warn({ err: error, path: c.req.path }, "redis refuses writes: out of memory");
      return c.json(
        errorBody(
          "STORAGE_FULL",
          "Redis is out of memory (maxmemory) and refuses writes: reads go on; changes work again once runs end and retention frees room, or Redis is given more memory",
        ),
        503,
      );
    }
    if (isRedisDown(error)) {
      log.warn({ err: error }, "redis unavailable");
      return c.json(errorBody("REDIS_UNAVAILABLE", "Redis does not answer; try again shortly"), 503);
    }
    log.error({ err: error, path: c.req.path }, "unhandled error");
    return c.json(
      errorBody("INTERNAL_ERROR", "an internal error occurred; the server log has the details"),
      500,
    );
  });
  return app;
}

function isRedisDown(error: Error): boolean {
  return (
    error.name === "MaxRetriesPerRequestError" ||
    /ECONNREFUSED|Connection is closed|Stream isn't writeable|ETIMEDOUT|Cluster isn't ready/.test(
      error.message,
    )
  );
}
