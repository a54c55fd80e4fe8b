/**
 * What the live-events bench feeds its servers: a chain of clock commands for Rigflow, the same
 * events written straight to a stream for the relay, and the Redis hop both sit on.
 */
import type { Redis } from "ioredis";
import { setTimeout as sleep } from "node:timers/promises";
import { connectRedis } from "../src/engine/index.js";
import { clockFunctionId, machineMs } from "./clock-driver.js";
import { withTimeout } from "./stats.js";

/** A chain of clock commands on one device: one completion every `delayMs` and a hand-over. */
export function chainDocument(
  id: string,
  deviceId: string,
  nodes: number,
  delayMs: number,
): Record<string, unknown> {
  const ids = Array.from({ length: nodes }, (_, i) => `n${i}`);
  return {
    id,
    name: id,
    nodes: ids.map((node) => ({
      id: node,
      device_id: deviceId,
      function_id: clockFunctionId,
      params: { delay_ms: delayMs },
    })),
    edges: ids.slice(1).map((target, i) => ({ source: ids[i], target })),
  };
}

/**
 * What a run of `nodes` chained commands sends, shaped as Rigflow's events are: per node an
 * executing event, `delayMs`, then a completed one stamped with the machine clock; then the end.
 */
export async function feedRelay(
  redis: Redis,
  stream: string,
  runId: string,
  nodes: number,
  delayMs: number,
): Promise<string> {
  const base = { run_id: runId, pipeline_id: runId };
  const add = (event: Record<string, unknown>) =>
    redis.xadd(stream, "MAXLEN", "~", 10_000, "*", "e", JSON.stringify({ ...event, ...base, ...now() }));
  for (let i = 0; i < nodes; i += 1) {
    const node = `n${i}`;
    await add({ type: "node_executing", node_id: node, node_type: "device", function_id: clockFunctionId });
    await sleep(delayMs);
    const outputs = { completed_at: machineMs() };
    await add({ type: "node_completed", node_id: node, outputs, execution_time: delayMs / 1000 });
  }
  await add({ type: "pipeline_completed", success: true, execution_time: 0, nodes_executed: nodes });
  return runId;
}

/** An event's timestamp and an event_id as long as Rigflow's. */
const now = () => ({ timestamp: new Date().toISOString(), event_id: `${Date.now()}-0` });

/** The floor under any relay: XADD on one connection to the reply of an XREAD BLOCK on another. */
export async function measureRedisHop(redisUrl: string, stream: string, samples: number): Promise<number[]> {
  const writer = connectRedis(redisUrl, { blocking: false, name: "bench-hop-writer" });
  const reader = connectRedis(redisUrl, { blocking: true, name: "bench-hop-reader" });
  const hops: number[] = [];
  try {
    const reading = (async () => {
      let lastId = "0-0";
      while (hops.length < samples) {
        const reply = await reader.xread("BLOCK", 5000, "STREAMS", stream, lastId);
        if (!reply) throw new Error("Redis hop: no entry within 5 s");
        const at = machineMs();
        for (const [id, fields] of reply[0]?.[1] ?? []) {
          lastId = id;
          hops.push(at - Number(fields[1]));
        }
      }
    })();
    for (let i = 0; i < samples; i += 1) {
      await sleep(2);
      await writer.xadd(stream, "*", "t", String(machineMs()));
    }
    await withTimeout(reading, 10_000, "Redis hop");
    return hops;
  } finally {
    reader.disconnect();
    await writer.quit();
  }
}

export async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== "0");
}
