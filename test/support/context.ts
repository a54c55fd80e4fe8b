import { randomBytes } from "node:crypto";
import { checkDescribed } from "./described-answers.js";
import { pino, type Logger } from "pino";
import { afterAll, beforeAll, inject } from "vitest";
import { startApi, type ApiHandle } from "../../src/api/server.js";
import { drivers } from "../../src/drivers/registry.js";
import type { DeviceConfig } from "../../src/drivers/types.js";
import { connectRedis, createCatalog, defaultLimits, Engine } from "../../src/engine/index.js";
import type { AccessSettings } from "../../src/api/access/index.js";
import { createApp } from "../../src/api/app.js";
import { createQueueAdmin } from "../../src/queues/index.js";
import type { SseTuning } from "../../src/api/live/sse-session.js";
import type { HubTuning } from "../../src/api/ws/hub.js";
import { startWorker, type WorkerHandle, type WorkerOptions } from "../../src/worker/worker.js";

export const redisUrl = () => inject("redisUrl");
export const quietLog = pino({ level: "silent" });

/** A prefix of its own per test, so tests share one Redis without seeing each other. */
export const newPrefix = () => `t${randomBytes(5).toString("hex")}`;

export const servo = (id: string, options: Record<string, unknown> = {}): DeviceConfig => ({
  id,
  driver: "mock-servo",
  capacity: 1,
  options: { speed: 2000, ...options },
});

/** An engine and an in-memory Hono app on a fresh prefix; requests go through app.request(). */
export function createTestApi(
  devices: DeviceConfig[],
  /** `redisUrl`: a Redis of the test's own (one it freezes or restarts); the shared one by default. */
  options: {
    apiToken?: string;
    access?: Partial<AccessSettings>;
    maxBodyBytes?: number;
    redisUrl?: string;
  } = {},
) {
  const prefix = newPrefix();
  const redis = connectRedis(options.redisUrl ?? redisUrl(), { blocking: false, name: "test-api" });
  const engine = new Engine(redis, prefix, createCatalog(devices, drivers.values()), defaultLimits);
  const queueAdmin = createQueueAdmin(engine);
  const app = createApp({
    engine,
    queueAdmin,
    log: quietLog,
    apiToken: options.apiToken,
    ...(options.access ? { access: options.access } : {}),
    maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
  });
  return {
    prefix,
    engine,
    queueAdmin,
    redis,
    app,
    // Every answer is checked against the OpenAPI document (described-answers.ts).
    post: async (path: string, body: unknown, headers: Record<string, string> = {}) =>
      checkDescribed(
        "POST",
        path,
        await app.request(path, {
          method: "POST",
          headers: { "content-type": "application/json", ...headers },
          body: typeof body === "string" ? body : JSON.stringify(body),
        }),
      ),
    get: async (path: string, headers: Record<string, string> = {}) =>
      checkDescribed("GET", path, await app.request(path, { headers })),
    async close() {
      await engine.close();
      await redis.quit();
    },
  };
}

export function startTestWorker(
  prefix: string,
  devices: DeviceConfig[],
  options: Partial<
    Pick<
      WorkerOptions,
      | "workerId"
      | "log"
      | "shutdownGraceMs"
      | "redisUrl"
      | "runConcurrency"
      | "runRetention"
      | "approvalRecheckMs"
    >
  > = {},
): Promise<WorkerHandle> {
  return startWorker({ redisUrl: redisUrl(), prefix, devices, drivers, log: quietLog, ...options });
}

/** A logger that keeps what it is given, for tests of what a process tells its operator. */
export function recordingLog(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };
  return { log: pino({ level: "info" }, stream), lines: () => lines };
}

export function startTestServer(
  prefix: string,
  devices: DeviceConfig[],
  options: {
    apiToken?: string;
    access?: Partial<AccessSettings>;
    ws?: Partial<HubTuning>;
    sse?: Partial<SseTuning>;
    maxStreamsPerClient?: number;
  } = {},
): Promise<ApiHandle> {
  return startApi({
    ...options,
    redisUrl: redisUrl(),
    prefix,
    port: 0,
    host: "127.0.0.1",
    maxBodyBytes: 1024 * 1024,
    limits: defaultLimits,
    devices,
    drivers: drivers.values(),
    log: quietLog,
  });
}

/**
 * Runs `body` against an API and an in-process worker of their own (fresh prefix, own devices),
 * and closes both whatever happens.
 */
export async function withRig(
  devices: DeviceConfig[],
  body: (api: ReturnType<typeof createTestApi>) => Promise<void>,
): Promise<void> {
  const api = createTestApi(devices);
  const worker = await startTestWorker(api.prefix, devices);
  try {
    await body(api);
  } finally {
    await worker.close();
    await api.close();
  }
}

/** An API and an in-process worker for a whole test file: started before its tests, stopped after them. */
export function rigForFile(devices: DeviceConfig[]): { api: ReturnType<typeof createTestApi> } {
  const rig = {} as { api: ReturnType<typeof createTestApi>; worker?: WorkerHandle };
  beforeAll(async () => {
    rig.api = createTestApi(devices);
    rig.worker = await startTestWorker(rig.api.prefix, devices);
  });
  afterAll(async () => {
    await rig.worker?.close();
    await rig.api?.close();
  });
  return rig;
}
