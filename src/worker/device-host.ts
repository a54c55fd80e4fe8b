import { Worker, type ConnectionOptions } from "bullmq";
import type { Logger } from "pino";
import type { DeviceConfig, Driver, DriverDefinition } from "../drivers/types.js";
import { deviceQueueName, type NodeJobData, type WorkerRuntime } from "../engine/index.js";
import type { CommandRegistry } from "./command-registry.js";
import type { PresentDevice } from "./device-presence.js";
import { createNodeProcessor } from "./node-processor.js";

/** How long to wait between attempts to open a device that was not there at start. */
const openRetryMs = [500, 1000, 2000, 5000];

/** One hosted device: its driver, the BullMQ worker on its queue, and what it is doing. */
export interface HostedDevice {
  present: PresentDevice;
  worker: Worker<NodeJobData>;
  driver: Driver;
  /** Opens the driver (retrying in the background while the device is missing), then consumes. */
  start(): void;
  stop(): Promise<void>;
}

/**
 * Hosts one device: a driver and a worker that consumes only its queue, at the device's capacity.
 * A device missing at start does not stop the worker's other devices: it shows offline, and its
 * queue waits until it can be opened.
 */
export function hostDevice(deps: {
  device: DeviceConfig;
  definition: DriverDefinition;
  runtime: WorkerRuntime;
  commands: CommandRegistry;
  connection: ConnectionOptions;
  prefix: string;
  log: Logger;
  onActivity(device: PresentDevice): void;
}): HostedDevice {
  const { device, definition, log } = deps;
  const driver = definition.create(device);
  let opened = false;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  let active = 0;
  const running = new Map<string, string>();
  const present: PresentDevice = {
    id: device.id,
    driver: device.driver,
    capacity: device.capacity,
    active: () => active,
    current: () => [...running.values()],
    state: () => (!opened || driver.connected === false ? "offline" : active > 0 ? "busy" : "idle"),
  };
  const processNode = createNodeProcessor({
    driver,
    functions: new Map(definition.functions.map((fn) => [fn.id, fn])),
    runtime: deps.runtime,
    commands: deps.commands,
    log,
  });
  const worker = new Worker<NodeJobData>(
    deviceQueueName(device.id),
    async (job) => {
      const key = job.id ?? "";
      active += 1;
      running.set(key, `${job.data.runId}/${job.data.nodeId}: ${job.data.functionId}`);
      deps.onActivity(present);
      try {
        return await processNode(job);
      } finally {
        active -= 1;
        running.delete(key);
        deps.onActivity(present);
      }
    },
    { connection: deps.connection, prefix: deps.prefix, concurrency: device.capacity, autorun: false },
  );
  worker.on("error", (error) => log.warn({ err: error }, "device worker error"));

  const open = async (attempt: number): Promise<void> => {
    try {
      await driver.open();
    } catch (error) {
      if (attempt === 0) log.warn({ err: error }, "device not available; will keep trying");
      if (!stopped) {
        const delay = openRetryMs[Math.min(attempt, openRetryMs.length - 1)];
        retry = setTimeout(() => void open(attempt + 1), delay);
      }
      return;
    }
    if (stopped) return;
    opened = true;
    deps.onActivity(present);
    log.info("device open");
    void worker.run().catch((error: unknown) => log.error({ err: error }, "device worker stopped"));
  };

  return {
    present,
    worker,
    driver,
    start: () => void open(0),
    async stop() {
      stopped = true;
      clearTimeout(retry);
      await worker.close();
      await driver.close().catch(() => undefined);
    },
  };
}
