import { hostname } from "node:os";
import { Worker, type ConnectionOptions } from "bullmq";
import type { Logger } from "pino";
import type { DeviceConfig, Driver, DriverDefinition } from "../drivers/types.js";
import {
  connectRedis,
  createWorkerRuntime,
  deviceQueueName,
  runsQueueName,
  type NodeJobData,
  type RunJobData,
} from "../engine/index.js";
import { CommandRegistry } from "./command-registry.js";
import { DevicePresence, type PresentDevice } from "./device-presence.js";
import { createNodeProcessor } from "./node-processor.js";

export interface WorkerOptions {
  redisUrl: string;
  prefix: string;
  devices: readonly DeviceConfig[];
  drivers: ReadonlyMap<string, DriverDefinition>;
  log: Logger;
  workerId?: string;
  /** How many runs this process orchestrates at once; 0 leaves orchestration to other workers. */
  runConcurrency?: number;
}

export interface WorkerHandle {
  workerId: string;
  close(): Promise<void>;
}

/** Someone (Bull-board, another tool) may change a queue's global concurrency: put it back often. */
const reassertConcurrencyMs = 30_000;
/** How often a worker that orchestrates runs looks for runs that lost their run job. */
const sweepIntervalMs = 30_000;

/**
 * A worker process's body: opens the drivers of the devices it hosts, consumes only their queues
 * (one BullMQ worker per device, capacity enforced in Redis across every process), and runs runs'
 * orchestration jobs.
 */
export async function startWorker(options: WorkerOptions): Promise<WorkerHandle> {
  const { log } = options;
  const workerId = options.workerId ?? `${hostname()}-${process.pid}`;
  const redis = connectRedis(options.redisUrl, { blocking: true, name: `rigflow-worker-${workerId}` });
  redis.on("error", (error) => log.warn({ err: error }, "redis connection error"));
  const subscriber = redis.duplicate();
  subscriber.on("error", (error) => log.warn({ err: error }, "redis subscriber error"));
  const runtime = createWorkerRuntime(redis, options.prefix, log);
  const commands = new CommandRegistry();
  const connection = redis as ConnectionOptions;
  const workers: Worker[] = [];
  const present: PresentDevice[] = [];
  const drivers: Driver[] = [];

  for (const device of options.devices) {
    const definition = options.drivers.get(device.driver);
    if (!definition) throw new Error(`device '${device.id}': no driver '${device.driver}'`);
    const driver = definition.create(device);
    await driver.open();
    drivers.push(driver);
    let active = 0;
    const presentDevice: PresentDevice = {
      id: device.id,
      driver: device.driver,
      capacity: device.capacity,
      active: () => active,
      state: () => (active > 0 ? "busy" : "idle"),
    };
    present.push(presentDevice);
    const processNode = createNodeProcessor({
      driver,
      functions: new Map(definition.functions.map((fn) => [fn.id, fn])),
      runtime,
      commands,
      log: log.child({ deviceId: device.id }),
    });
    const worker = new Worker<NodeJobData>(
      deviceQueueName(device.id),
      async (job) => {
        active += 1;
        presence.changedActivity(presentDevice);
        try {
          return await processNode(job);
        } finally {
          active -= 1;
          presence.changedActivity(presentDevice);
        }
      },
      { connection, prefix: options.prefix, concurrency: device.capacity, autorun: false },
    );
    worker.on("error", (error) => log.warn({ err: error, deviceId: device.id }, "device worker error"));
    workers.push(worker);
  }
  const presence = new DevicePresence(redis, runtime.keys, workerId, present);

  const runConcurrency = options.runConcurrency ?? 50;
  if (runConcurrency > 0) {
    const runWorker = new Worker<RunJobData>(runsQueueName, runtime.processRun, {
      connection,
      prefix: options.prefix,
      concurrency: runConcurrency,
      autorun: false,
    });
    runWorker.on("error", (error) => log.warn({ err: error }, "run worker error"));
    workers.push(runWorker);
  }

  const assertConcurrency = () =>
    Promise.all(
      options.devices.map((device) => runtime.queues.device(device.id).setGlobalConcurrency(device.capacity)),
    );
  await assertConcurrency();
  const reassert = setInterval(() => void assertConcurrency().catch(() => undefined), reassertConcurrencyMs);
  const sweep = () =>
    runtime.sweep().then(
      (repaired) => repaired > 0 && log.warn({ repaired }, "re-queued runs that had lost their run job"),
      (error: unknown) => log.warn({ err: error }, "run sweep failed"),
    );
  const sweeper = runConcurrency > 0 ? setInterval(() => void sweep(), sweepIntervalMs) : undefined;

  await subscriber.subscribe(runtime.keys.cancelChannel);
  subscriber.on("message", (_channel: string, runId: string) => {
    const stopped = commands.cancelRun(runId);
    if (stopped > 0) log.info({ runId, stopped }, "cancelled running commands");
  });

  if (runConcurrency > 0) await sweep();
  await presence.start();
  for (const worker of workers)
    void worker.run().catch((error: unknown) => log.error({ err: error }, "worker stopped"));
  log.info({ workerId, devices: options.devices.map((device) => device.id) }, "worker ready");

  return {
    workerId,
    async close() {
      clearInterval(reassert);
      clearInterval(sweeper);
      await Promise.all(workers.map((worker) => worker.close()));
      await presence.stop().catch(() => undefined);
      await Promise.all(drivers.map((driver) => driver.close()));
      await runtime.close();
      subscriber.disconnect();
      await redis.quit().catch(() => undefined);
      log.info({ workerId }, "worker stopped");
    },
  };
}
