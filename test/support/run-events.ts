import type { ApiHandle } from "../../src/api/server.js";
import { connectRedis, defaultEventRetention } from "../../src/engine/index.js";
import { appendProgress } from "../../src/engine/redis/progress.js";
import { redisUrl } from "./context.js";
import { getJson } from "./http.js";

/** A run's event as the API gives it. */
export type StoredEvent = Record<string, unknown> & { event_id: string; type: string };

/** Every stored event of a run, page after page of GET /api/runs/{id}/events. */
export async function allStoredEvents(base: string, runId: string): Promise<StoredEvent[]> {
  const all: StoredEvent[] = [];
  let after: string | null = null;
  do {
    const page: { events: StoredEvent[]; next_after: string | null } = await getJson(
      base,
      `/api/runs/${runId}/events${after === null ? "" : `?after=${after}`}`,
    );
    all.push(...page.events);
    after = page.next_after;
  } while (after !== null);
  return all;
}

/**
 * Appends node_progress events of one node to a run as a worker does (node-progress.lua: the run's
 * stream, then the global one), one per message.
 */
export async function appendProgressEvents(
  api: ApiHandle,
  ref: { runId: string; pipelineId: string; nodeId: string },
  messages: readonly string[],
): Promise<void> {
  const redis = connectRedis(redisUrl(), { blocking: false, name: "test-progress" });
  try {
    for (const [index, message] of messages.entries()) {
      await appendProgress(
        redis,
        api.engine.keys,
        { ...ref, epoch: 0, deviceId: "servo-1", fence: "" },
        index / messages.length,
        message,
        defaultEventRetention,
      );
    }
  } finally {
    await redis.quit();
  }
}
