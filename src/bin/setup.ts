import { startApi, type ApiHandle } from "../api/server.js";
import { readConfig, type Config } from "../config.js";
import { drivers } from "../drivers/registry.js";
import type { DeviceConfig } from "../drivers/types.js";
import { loadDevicesFile, selectDevices } from "../infra/devices-file.js";
import { createLogger } from "../log.js";
import { startWorker, type WorkerHandle } from "../worker/worker.js";
import type { Logger } from "pino";

export interface Setup {
  config: Config;
  log: Logger;
  devices: DeviceConfig[];
}

/** What every entry point starts from: the config, a logger and the devices file. */
export function setup(name: string): Setup {
  const config = readConfig();
  const log = createLogger(config.logLevel, name, config.logFormat);
  return { config, log, devices: loadDevicesFile(config.devicesFile, drivers) };
}

export function requireRedisUrl(url: string | undefined): string {
  if (url) return url;
  throw new Error(
    "REDIS_URL is not set: `npm run api` and `npm run worker` need a running Redis (npm start brings its own)",
  );
}

/** The API as configured. It gets the drivers' specs only, to check params; it opens no device. */
export function runApi({ config, log, devices }: Setup, redisUrl: string): Promise<ApiHandle> {
  return startApi({
    redisUrl,
    redisCluster: config.redisCluster,
    prefix: config.prefix,
    port: config.port,
    host: config.host,
    access: config.access,
    maxBodyBytes: config.maxBodyBytes,
    maxStreamsPerClient: config.maxStreamsPerClient,
    limits: config.limits,
    eventRetention: config.eventRetention,
    devices,
    drivers: drivers.values(),
    log,
  });
}

/** A worker hosting WORKER_DEVICES (default: every device in the file). */
export function runWorker({ config, log, devices }: Setup, redisUrl: string): Promise<WorkerHandle> {
  return startWorker({
    redisUrl,
    redisCluster: config.redisCluster,
    prefix: config.prefix,
    devices: selectDevices(devices, config.workerDevices),
    drivers,
    log,
    ...(config.workerId !== undefined && { workerId: config.workerId }),
    shutdownGraceMs: config.shutdownGraceMs,
    eventRetention: config.eventRetention,
    runRetention: config.runRetention,
  });
}

/** Runs an entry point; a start-up failure is one line on stderr and exit code 1, not a stack. */
export function runMain(main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    console.error(`rigflow: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
