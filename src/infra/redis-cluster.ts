import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort, startRedisServer, type RedisServerHandle } from "./redis-server.js";

export interface RedisClusterHandle {
  /** One node's URL: what REDIS_URL names with REDIS_CLUSTER=1. */
  url: string;
  nodes: RedisServerHandle[];
  stop(): Promise<void>;
}

/**
 * For the tests and the bench: a local Redis Cluster of `masters` masters and no replicas: redis-servers with
 * `--cluster-enabled yes` (their node files in a temp dir), joined by `redis-cli --cluster create`.
 * Resolves once every node reports `cluster_state:ok`.
 */
export async function startRedisCluster(masters = 3): Promise<RedisClusterHandle> {
  const dir = mkdtempSync(join(tmpdir(), "rigflow-cluster-"));
  const nodes: RedisServerHandle[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i += 1) {
      const port = await freePort();
      nodes.push(
        await startRedisServer({
          port,
          args: ["--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`)],
        }),
      );
    }
    await redisCli([
      "--cluster",
      "create",
      ...nodes.map((node) => `127.0.0.1:${node.port}`),
      "--cluster-replicas",
      "0",
      "--cluster-yes",
    ]);
    await Promise.all(nodes.map((node) => clusterOk(node.url)));
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: nodes[0]?.url as string, nodes, stop };
}

function redisCli(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("redis-cli", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`redis-cli ${args.join(" ")} exited ${code}:\n${output}`)),
    );
  });
}

/** The nodes agree on the slots after a few gossip rounds; each is asked until it says so. */
async function clusterOk(url: string): Promise<void> {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const info = await redis.cluster("INFO");
      if (info.includes("cluster_state:ok")) return;
      if (Date.now() > deadline) throw new Error(`cluster node ${url} not ok after 20 s:\n${info}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    redis.disconnect();
  }
}
