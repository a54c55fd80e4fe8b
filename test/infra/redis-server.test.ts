import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterEach, describe, expect, it } from "vitest";
import { readConfig } from "../../src/config.js";
import { startRedisServer, type RedisServerHandle } from "../../src/infra/redis-server.js";

const servers: RedisServerHandle[] = [];
const dataDirs: string[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
  for (const dir of dataDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function start(options: Parameters<typeof startRedisServer>[0]): Promise<RedisServerHandle> {
  const server = await startRedisServer(options);
  servers.push(server);
  return server;
}

function tempDataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "rigflow-redis-settings-"));
  dataDirs.push(dir);
  return dir;
}

const names = ["appendonly", "appendfsync", "no-appendfsync-on-rewrite", "maxmemory-policy", "save"];

/** The server's own answer to CONFIG GET, for the settings that decide what survives a crash. */
async function settings(server: RedisServerHandle): Promise<Record<string, string>> {
  const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
  try {
    const pairs = (await client.call("CONFIG", "GET", ...names)) as string[];
    const answer: Record<string, string> = {};
    for (let i = 0; i + 1 < pairs.length; i += 2) answer[pairs[i] as string] = pairs[i + 1] as string;
    return answer;
  } finally {
    client.disconnect();
  }
}

// With appendfsync everysec a power cut of the Redis host rolls back up to a second of writes that
// clients have already seen (an accepted run, an idempotency key, a node begin). Redis 7.0 has no
// WAITAOF: `always` is how the embedded Redis answers a write only once it is on disk.
describe("the embedded redis-server", () => {
  it("with a data dir answers writes only once they are on disk: AOF on, appendfsync always", async () => {
    const server = await start({ dataDir: tempDataDir() });
    expect(await settings(server)).toEqual({
      appendonly: "yes",
      appendfsync: "always",
      "no-appendfsync-on-rewrite": "no",
      "maxmemory-policy": "noeviction",
      save: "",
    });
  });

  it("fsyncs once a second when told to (REDIS_APPENDFSYNC=everysec)", async () => {
    const server = await start({ dataDir: tempDataDir(), appendfsync: "everysec" });
    expect(await settings(server)).toMatchObject({ appendonly: "yes", appendfsync: "everysec" });
  });

  it("without a data dir (the tests' own Redis) keeps nothing on disk", async () => {
    const server = await start({});
    expect(await settings(server)).toMatchObject({ appendonly: "no", save: "" });
  });
});

describe("REDIS_APPENDFSYNC", () => {
  it("defaults to always, takes everysec, and refuses anything else", () => {
    expect(readConfig({}).redisAppendfsync).toBe("always");
    expect(readConfig({ REDIS_APPENDFSYNC: "" }).redisAppendfsync).toBe("always");
    expect(readConfig({ REDIS_APPENDFSYNC: "everysec" }).redisAppendfsync).toBe("everysec");
    expect(() => readConfig({ REDIS_APPENDFSYNC: "no" })).toThrow(/REDIS_APPENDFSYNC/);
  });
});

describe("REDIS_CLUSTER", () => {
  it("makes the prefix a hash tag, needs REDIS_URL, and takes only 0 or 1", () => {
    expect(readConfig({}).prefix).toBe("rigflow");
    expect(readConfig({}).redisCluster).toBe(false);
    const onCluster = readConfig({
      REDIS_CLUSTER: "1",
      REDIS_URL: "redis://h:7000",
      RIGFLOW_PREFIX: "lab-a",
    });
    expect(onCluster).toMatchObject({ prefix: "{lab-a}", redisCluster: true });
    expect(() => readConfig({ REDIS_CLUSTER: "1" })).toThrow(/REDIS_CLUSTER: set REDIS_URL/);
    expect(() => readConfig({ REDIS_CLUSTER: "yes" })).toThrow(/REDIS_CLUSTER/);
  });
});
