import type { Redis } from "ioredis";
import { terminalEventTypes, type RunEventType } from "../run/events.js";
import type { RedisKeys } from "./keys.js";

/**
 * Waits on the run's own event stream (XREAD BLOCK on a connection of its own) until a terminal
 * event arrives or the time is up. Event-driven, so a run that ends is seen at once.
 */
export async function waitForRunEnd(
  redis: Redis,
  keys: RedisKeys,
  runId: string,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const reader = redis.duplicate({ maxRetriesPerRequest: null });
  reader.on("error", () => undefined);
  try {
    let after = "0-0";
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      const result = await reader.xread(
        "COUNT",
        100,
        "BLOCK",
        Math.min(left, 5000),
        "STREAMS",
        keys.runEvents(runId),
        after,
      );
      for (const [, entries] of result ?? []) {
        for (const [id, fields] of entries) {
          after = id;
          const event = JSON.parse(fields[1] ?? "{}") as { type?: RunEventType };
          if (event.type && terminalEventTypes.has(event.type)) return true;
        }
      }
    }
  } finally {
    reader.disconnect();
  }
}
