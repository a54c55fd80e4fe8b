import { Hono } from "hono";
import { z } from "zod";
import type { Engine } from "../../engine/index.js";

/** The devices of the devices file with their live state, and every driver's functions. */
export function deviceRoutes(engine: Engine) {
  return new Hono()
    .get("/devices", async (c) => {
      const devices = await engine.devices();
      return c.json({
        devices: devices.map((d) => ({
          device_id: d.deviceId,
          driver: d.driver,
          status: d.status,
          error_message: d.errorMessage,
          capacity: d.capacity,
          active: d.active,
          current: d.current,
          queue_depth: d.queueDepth,
          worker_id: d.workerId,
          last_seen_at: d.lastSeenAt,
          reserved_by: d.reservedBy,
        })),
      });
    })
    .get("/functions", (c) =>
      c.json({
        drivers: engine.catalog.drivers().map((driver) => ({
          driver: driver.name,
          description: driver.description,
          functions: driver.functions.map((fn) => ({
            function_id: fn.id,
            description: fn.description,
            params: z.toJSONSchema(fn.params),
            outputs: fn.outputs,
            idempotent: fn.idempotent,
            pausable: fn.pausable ?? false,
            timeout_ms: fn.timeoutMs,
            retry: {
              attempts: fn.retry.attempts,
              backoff_ms: fn.retry.backoffMs,
              backoff: fn.retry.backoff ?? "fixed",
              ...(fn.retry.maxBackoffMs !== undefined && { max_backoff_ms: fn.retry.maxBackoffMs }),
              jitter: fn.retry.jitter ?? false,
            },
          })),
        })),
      }),
    );
}
