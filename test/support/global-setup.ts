// Starts one private redis-server (no persistence) for the whole run and stops it after. Tests
// isolate themselves by BullMQ/Rigflow prefix, so files can run in parallel on it. A missing
// redis-server fails here, loudly: `npm test` installs it first (scripts/ensure-system-packages.sh).
import type { TestProject } from "vitest/node";
import { startRedisServer, type RedisServerHandle } from "../../src/infra/redis-server.js";

let server: RedisServerHandle | undefined;

export async function setup(project: TestProject): Promise<void> {
  server = await startRedisServer();
  project.provide("redisUrl", server.url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}

declare module "vitest" {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
