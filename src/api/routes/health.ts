import { Hono } from "hono";
import type { Engine } from "../../engine/index.js";
import { errorBody } from "../http-error.js";

/** Open to all even with API_TOKEN set: orchestrators probe these. */
export function healthRoutes(engine: Engine) {
  return new Hono()
    .get("/healthz", (c) => c.json({ status: "ok" }))
    .get("/readyz", async (c) =>
      (await engine.ping())
        ? c.json({ status: "ready" })
        : c.json(errorBody("REDIS_UNAVAILABLE", "Redis does not answer"), 503),
    );
}
