import { Hono } from "hono";
import type { ApiMetrics } from "../metrics/api-metrics.js";

/**
 * Prometheus' text format. Open like /healthz even with API_TOKEN set (the contract lists it with
 * the health endpoints): it shows counts and device and function names, never job data or outputs.
 */
export function metricsRoutes(metrics: ApiMetrics) {
  return new Hono().get("/metrics", async (c) =>
    c.body(await metrics.render(), 200, { "content-type": metrics.contentType }),
  );
}
