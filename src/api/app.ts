import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { Logger } from "pino";
import { isRigflowError, type Engine } from "../engine/index.js";
import { errorBody, sendError } from "./http-error.js";
import { SseStreams } from "./live/sse-streams.js";
import { ApiMetrics } from "./metrics/api-metrics.js";
import { requireToken } from "./middleware/auth.js";
import { dashboardRoutes } from "./routes/dashboard.js";
import { deviceRoutes } from "./routes/devices.js";
import { executeRoute } from "./routes/execute.js";
import { healthRoutes } from "./routes/health.js";
import { metricsRoutes } from "./routes/metrics.js";
import { pipelineRoutes } from "./routes/pipelines.js";
import { queueRoutes } from "./routes/queues.js";
import { runRoutes } from "./routes/runs.js";

export interface AppOptions {
  engine: Engine;
  log: Logger;
  apiToken?: string | undefined;
  maxBodyBytes: number;
  /** The process's SSE streams, fed by its EventTail (server.ts); without it they only replay. */
  sse?: SseStreams;
  /** GET /metrics, fed by the EventTail (server.ts); without it only the scrape-time figures move. */
  metrics?: ApiMetrics;
}

/** The HTTP API: routes, auth, limits, and the one place errors become responses. */
export function createApp(options: AppOptions) {
  const { engine, log } = options;
  const app = new Hono();
  app.route("/", healthRoutes(engine));
  app.route("/", metricsRoutes(options.metrics ?? new ApiMetrics(engine)));
  app.use("/api/*", requireToken({ token: options.apiToken }));
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
  app.route("/api/runs", runRoutes(engine, options.sse ?? new SseStreams(engine)));
  app.route("/api", deviceRoutes(engine));
  app.route("/api/queues", queueRoutes(engine));
  // The dashboard's pages and assets, and Bull-board at /admin/queues (browser sessions: see there).
  app.route("/", dashboardRoutes({ engine, apiToken: options.apiToken }));
  app.notFound((c) => c.json(errorBody("NOT_FOUND", `no route ${c.req.method} ${c.req.path}`), 404));
  app.onError((error, c) => {
    if (isRigflowError(error)) return sendError(c, error);
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
    /ECONNREFUSED|Connection is closed|Stream isn't writeable|ETIMEDOUT/.test(error.message)
  );
}
