import type { Redis } from "ioredis";
import { eventJson } from "../run/events.js";
import type { EventRetention } from "./event-retention.js";
import type { RedisKeys } from "./keys.js";
import type { FencedNodeRef } from "./run-ledger.js";
import { globalEventStreamLength } from "./event-retention.js";
import { loadScripts } from "./scripts.js";

const scriptsByConnection = new WeakMap<Redis, ReturnType<typeof loadScripts>>();

/**
 * Appends a node_progress event, atomically to the run's stream and (with that entry's id) the
 * global stream, while the node is running and `fence` still holds the device (node-progress.lua).
 */
export async function appendProgress(
  redis: Redis,
  keys: RedisKeys,
  ref: FencedNodeRef,
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
  await scripts["node-progress"](
    [
      keys.run(ref.runId),
      keys.runNodes(ref.runId),
      keys.runEvents(ref.runId),
      keys.events,
      keys.deviceLease(ref.deviceId),
    ],
    [ref.nodeId, ref.epoch, ref.fence, json, globalEventStreamLength, retention.runEventsMax],
  );
}
