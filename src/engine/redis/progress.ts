import type { Redis } from "ioredis";
import { eventJson } from "../run/events.js";
import type { EventRetention } from "./event-retention.js";
import type { RedisKeys } from "./keys.js";
import type { NodeRef } from "./run-ledger.js";
import { globalEventStreamLength } from "./run-ledger.js";
import { loadScripts } from "./scripts.js";

const scriptsByConnection = new WeakMap<Redis, ReturnType<typeof loadScripts>>();

/**
 * Appends a node_progress event; progress changes no state, so event-append.lua only writes the
 * event, to the run's stream and (with that entry's id) the global stream, atomically.
 */
export async function appendProgress(
  redis: Redis,
  keys: RedisKeys,
  ref: NodeRef,
  progress: number,
  message: string,
  retention: EventRetention,
): Promise<void> {
  const json = eventJson(
    { run_id: ref.runId, pipeline_id: ref.pipelineId, timestamp: new Date().toISOString() },
    { type: "node_progress", node_id: ref.nodeId, progress, message },
  );
  let scripts = scriptsByConnection.get(redis);
  if (!scripts) {
    scripts = loadScripts(redis);
    scriptsByConnection.set(redis, scripts);
  }
  await scripts["event-append"](
    [keys.runEvents(ref.runId), keys.events],
    [json, globalEventStreamLength, retention.runEventsMax],
  );
}
