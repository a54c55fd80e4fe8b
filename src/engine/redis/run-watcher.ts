import type { Redis } from "ioredis";
import { terminalEventTypes, type RunEventType } from "../run/events.js";
import { endedRunStatuses, type RunStatus } from "../run/types.js";
import type { RedisKeys } from "./keys.js";

/**
 * Waits until the run ends or the time is up. It notes the newest event, then checks the status,
 * then blocks on the run's own stream (XREAD BLOCK, on a connection of its own) from that event: an
 * end that happens at any moment in between is seen, and an end from before a resume is not.
 */
export async function waitForRunEnd(
  redis: Redis,
  keys: RedisKeys,
  runId: string,
  timeoutMs: number,
): Promise<boolean> {
  const stream = keys.runEvents(runId);
  const newest = await redis.xrevrange(stream, "+", "-", "COUNT", 1);
  let after = newest[0]?.[0] ?? "0-0";
  const status = (await redis.hget(keys.run(runId), "status")) as RunStatus | null;
  if (status === null || endedRunStatuses.has(status)) return true;
  const deadline = Date.now() + timeoutMs;
  const reader = redis.duplicate({ maxRetriesPerRequest: null });
  reader.on("error", () => undefined);
  try {
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      const result = await reader.xread(
        "COUNT",
        100,
        "BLOCK",
        Math.min(left, 5000),
        "STREAMS",
        stream,
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
