import type { Redis } from "ioredis";
import { eventJson } from "../run/events.js";
import type { RedisKeys } from "./keys.js";
import type { NodeRef } from "./run-ledger.js";
import { globalEventStreamLength } from "./run-ledger.js";

/** Appends a node_progress event; progress changes no state, so no script is needed. */
export async function appendProgress(
  redis: Redis,
  keys: RedisKeys,
  ref: NodeRef,
  progress: number,
  message: string,
): Promise<void> {
  const json = eventJson(
    { run_id: ref.runId, pipeline_id: ref.pipelineId, timestamp: new Date().toISOString() },
    { type: "node_progress", node_id: ref.nodeId, progress, message },
  );
  await redis
    .multi()
    .xadd(keys.runEvents(ref.runId), "*", "e", json)
    .xadd(keys.events, "MAXLEN", "~", globalEventStreamLength, "*", "e", json)
    .exec();
}
