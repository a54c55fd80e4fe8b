/**
 * What one key prefix holds in Redis: every key under it (SCAN), its `MEMORY USAGE … SAMPLES 0`
 * (exact: every element counted, not an estimate from 5), summed by kind of key. The storage bench
 * takes this before and after a batch of runs; the difference is what the runs left behind.
 */
import type { Redis } from "ioredis";
import { waitUntil } from "./stats.js";

/** Kinds of key, in the order the report lists them. */
export const keyKinds = [
  "run hash",
  "nodes hash",
  "outputs hash",
  "run event stream",
  "global event stream",
  "run indexes",
  "pipelines, plans",
  "BullMQ job hashes",
  "BullMQ sets/zsets",
  "BullMQ event streams",
  "other",
] as const;

export type KeyKind = (typeof keyKinds)[number];

export interface KindTotal {
  bytes: number;
  keys: number;
}

export type Footprint = Map<KeyKind, KindTotal>;

/**
 * BullMQ's per-queue keys (QueueKeys in bullmq, plus `metrics:*`): everything else under a queue
 * is a job's own (its hash, and its `:processed`, `:dependencies`, `:lock`, `:logs` beside it).
 */
const bullQueueKeys = new Set([
  "",
  "active",
  "wait",
  "waiting-children",
  "paused",
  "id",
  "delayed",
  "prioritized",
  "stalled-check",
  "completed",
  "failed",
  "stalled",
  "repeat",
  "limiter",
  "meta",
  "pc",
  "marker",
  "de",
  "metrics",
]);

const runIndexKeys = new Set([
  "runs",
  "ended-runs",
  "active-runs",
  "runs-by-status",
  "pipeline-runs",
  "run-sequence",
  "run-indexes-version",
]);

const documentKeys = new Set(["plan", "pipeline", "pipeline-version", "pipelines"]);

/**
 * Which kind `key` (under `prefix`) is. Read from the key's shape rather than from
 * src/engine/redis/keys.ts's functions: the bench must go on classifying while those keys change
 * (a kind it does not know lands in "other", which the report shows).
 */
export function keyKind(prefix: string, key: string): KeyKind {
  const rest = key.slice(prefix.length + 1);
  const [head = "", ...tail] = rest.split(":");
  if (head !== "rf") {
    // BullMQ: <queue>:<queue key or job id>[:<job key suffix>]. Queue names hold no ":".
    const second = tail.join(":");
    if (second === "events") return "BullMQ event streams";
    if (bullQueueKeys.has(tail[0] ?? "")) return "BullMQ sets/zsets";
    return "BullMQ job hashes";
  }
  const [kind = "", , part] = tail;
  if (kind === "run") {
    if (tail.length === 2) return "run hash";
    if (part === "nodes") return "nodes hash";
    if (part === "outputs") return "outputs hash";
    if (part === "events") return "run event stream";
    return "other";
  }
  if (kind === "events" && tail.length === 1) return "global event stream";
  if (runIndexKeys.has(kind)) return "run indexes";
  if (documentKeys.has(kind)) return "pipelines, plans";
  return "other";
}

/** SCAN MATCH takes a glob: the prefix's own glob characters must match only themselves. */
const globEscape = (text: string) => text.replace(/[*?[\]\\]/g, "\\$&");

export async function scanKeys(redis: Redis, prefix: string): Promise<string[]> {
  const keys = new Set<string>(); // SCAN may return a key more than once
  let cursor = "0";
  do {
    const [next, batch] = await redis.scan(cursor, "MATCH", `${globEscape(prefix)}:*`, "COUNT", 1000);
    cursor = next;
    for (const key of batch) keys.add(key);
  } while (cursor !== "0");
  return [...keys];
}

const emptyFootprint = (): Footprint => new Map(keyKinds.map((kind) => [kind, { bytes: 0, keys: 0 }]));

/** Sums MEMORY USAGE by kind over every key under `prefix`, a few hundred keys per round trip. */
export async function footprint(redis: Redis, prefix: string): Promise<Footprint> {
  const keys = await scanKeys(redis, prefix);
  const totals = emptyFootprint();
  const batch = 500;
  for (let from = 0; from < keys.length; from += batch) {
    const slice = keys.slice(from, from + batch);
    const pipeline = redis.pipeline();
    for (const key of slice) pipeline.memory("USAGE", key, "SAMPLES", 0);
    const replies = (await pipeline.exec()) ?? [];
    slice.forEach((key, i) => {
      const [error, bytes] = replies[i] ?? [null, null];
      if (error) throw error;
      if (typeof bytes !== "number") return; // expired between SCAN and MEMORY USAGE
      const total = totals.get(keyKind(prefix, key)) as KindTotal;
      total.bytes += bytes;
      total.keys += 1;
    });
  }
  return totals;
}

/** after - before, kind by kind. */
export function growth(before: Footprint, after: Footprint): Footprint {
  const delta = emptyFootprint();
  for (const kind of keyKinds) {
    const a = after.get(kind) ?? { bytes: 0, keys: 0 };
    const b = before.get(kind) ?? { bytes: 0, keys: 0 };
    delta.set(kind, { bytes: a.bytes - b.bytes, keys: a.keys - b.keys });
  }
  return delta;
}

export const totalBytes = (footprint: Footprint): number =>
  [...footprint.values()].reduce((sum, { bytes }) => sum + bytes, 0);

/**
 * Resolves once no job of these queues is waiting, active or delayed, seen twice in a row. A run
 * is reported ended (run-ended, a completed event) a moment before its last job has moved to
 * `completed` and its timeout job is gone; measuring before then would count work still under way.
 */
export async function queuesIdle(
  redis: Redis,
  prefix: string,
  queueNames: readonly string[],
  timeoutMs: number,
): Promise<void> {
  let idleReads = 0;
  await waitUntil(
    async () => {
      const pipeline = redis.pipeline();
      for (const name of queueNames) {
        const queue = `${prefix}:${name}`;
        pipeline.llen(`${queue}:wait`).llen(`${queue}:active`).llen(`${queue}:paused`);
        pipeline.zcard(`${queue}:delayed`).zcard(`${queue}:prioritized`).zcard(`${queue}:waiting-children`);
      }
      const replies = (await pipeline.exec()) ?? [];
      const busy = replies.some(([error, count]) => error !== null || count !== 0);
      idleReads = busy ? 0 : idleReads + 1;
      if (idleReads < 2) await new Promise((resolve) => setTimeout(resolve, 20));
      return idleReads >= 2;
    },
    timeoutMs,
    `queues of ${prefix} idle`,
  );
}
