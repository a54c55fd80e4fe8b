import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startApi, type ApiHandle } from "../../src/api/server.js";
import { drivers } from "../../src/drivers/registry.js";
import { createApp } from "../../src/api/app.js";
import {
  clusterPrefix,
  connectRedis,
  createCatalog,
  defaultLimits,
  Engine,
  untilReady,
} from "../../src/engine/index.js";
import { startWorker, type WorkerHandle } from "../../src/worker/worker.js";
import { newPrefix, quietLog, servo } from "../support/context.js";
import { chainDoc, move, servoDiamond } from "../support/pipelines.js";
import { untilFirstNodeRuns } from "../support/runs.js";
import { expectRedisUnavailable } from "../support/http.js";
import { startRedisCluster, type RedisClusterHandle } from "../../src/infra/redis-cluster.js";

// REDIS_CLUSTER=1 on a local 3-master cluster: the API and a worker on the cluster client, every key
// of the deployment in one hash slot (its prefix is a hash tag), runs driven through the HTTP API.
const devices = [
  servo("servo-1"),
  servo("servo-2"),
  servo("slow", { speed: 1 }),
  servo("flaky", { fail_first: { move: 1 } }),
];

let cluster: RedisClusterHandle;
let api: ApiHandle;
let worker: WorkerHandle;
const prefix = clusterPrefix(newPrefix(), true);

beforeAll(async () => {
  cluster = await startRedisCluster(3);
  const common = { redisUrl: cluster.url, redisCluster: true, prefix, devices, log: quietLog };
  worker = await startWorker({ ...common, drivers });
  api = await startApi({
    ...common,
    port: 0,
    host: "127.0.0.1",
    maxBodyBytes: 1024 * 1024,
    limits: defaultLimits,
    drivers: drivers.values(),
  });
}, 60_000);

afterAll(async () => {
  await worker?.close();
  await api?.close();
  await cluster?.stop();
});

async function call(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${api.port}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return {
    status: response.status,
    body: (await response.json().catch(() => ({}))) as Record<string, unknown>,
  };
}

async function submit(document: unknown): Promise<string> {
  const { status, body } = await call("POST", "/api/runs", { pipeline: document });
  expect(status, JSON.stringify(body)).toBe(202);
  return body.run_id as string;
}

describe("on a Redis Cluster (REDIS_CLUSTER=1)", () => {
  it("runs a diamond: each node once, in order, with its outputs", async () => {
    const runId = await submit(servoDiamond("cluster-diamond"));
    const run = await api.engine.waitForRun(runId, 20_000);
    expect(run.status).toBe("completed");
    expect(Object.fromEntries(run.nodes.map((node) => [node.nodeId, node.outputs?.position]))).toEqual({
      top: 30,
      left: 10,
      right: 20,
      bottom: 40,
    });
    const events = (await call("GET", `/api/runs/${runId}/events`)).body.events as { type: string }[];
    expect(events.filter((event) => event.type === "node_completed")).toHaveLength(4);
    expect(events.at(-1)?.type).toBe("pipeline_completed");
  });

  it("cancels a run whose command is under way", async () => {
    const runId = await submit(
      chainDoc("cluster-cancel", move("long", "slow", 180), move("after", "servo-1", 5)),
    );
    await untilFirstNodeRuns(api.engine, runId);
    expect((await call("POST", `/api/runs/${runId}/cancel`)).status).toBe(202);
    const run = await api.engine.waitForRun(runId, 10_000);
    expect(run.status).toBe("cancelled");
    // The one under way is cancelled; the one after it was never released.
    expect(run.nodes.map((node) => node.status)).toEqual(["cancelled", "pending"]);
  });

  it("resumes a failed run from its failed node, without repeating the completed one", async () => {
    const runId = await submit(
      chainDoc("cluster-resume", move("first", "servo-2", 7), move("second", "flaky", 9)),
    );
    const failed = await api.engine.waitForRun(runId, 20_000);
    expect(failed.status).toBe("failed");
    const firstDone = failed.nodes[0]?.finishedAt;
    expect((await call("POST", `/api/runs/${runId}/retry`)).status).toBe(202);
    const resumed = await api.engine.waitForRun(runId, 20_000);
    expect(resumed.status).toBe("completed");
    expect(resumed.nodes[0]).toMatchObject({ status: "completed", finishedAt: firstDone });
    expect(resumed.nodes[1]).toMatchObject({ status: "completed", outputs: { position: 9 } });
  });

  it("keeps every key of the deployment in one hash slot, on one master", async () => {
    const tag = prefix.slice(1, -1);
    const holders: { url: string; keys: string[] }[] = [];
    for (const node of cluster.nodes) {
      const redis = new Redis(node.url, { maxRetriesPerRequest: 1 });
      try {
        const keys = await redis.keys("*");
        if (keys.length > 0) holders.push({ url: node.url, keys });
        for (const key of keys) expect(key.startsWith(`${prefix}:`), key).toBe(true);
        const slots = new Set(await Promise.all(keys.map((key) => redis.cluster("KEYSLOT", key))));
        const tagSlot = await redis.cluster("KEYSLOT", tag);
        for (const slot of slots) expect(slot).toBe(tagSlot);
      } finally {
        redis.disconnect();
      }
    }
    expect(holders).toHaveLength(1);
    expect(holders[0]?.keys.length).toBeGreaterThan(20);
  });
});

describe("a Redis Cluster that goes down (REDIS_CLUSTER=1)", () => {
  it("answers the API's requests 503 REDIS_UNAVAILABLE at once, not when it comes back", async () => {
    const down = await startRedisCluster(3);
    const redis = connectRedis(down.url, { blocking: false, name: "rigflow-api", cluster: true });
    redis.on("error", () => undefined);
    const engine = new Engine(
      redis,
      clusterPrefix(newPrefix(), true),
      createCatalog(devices, drivers.values()),
      defaultLimits,
    );
    const app = createApp({ engine, log: quietLog, maxBodyBytes: 1024 * 1024 });
    try {
      await untilReady(redis, 10_000);
      expect((await app.request("/api/runs")).status).toBe(200);
      await down.stop();
      // Within the test's timeout: the cluster client would otherwise hold the request until the
      // cluster came back, which it never does here.
      await expectRedisUnavailable(await app.request("/api/runs"));
    } finally {
      await engine.close();
      redis.disconnect();
      await down.stop();
    }
  });
});
