import { Worker, type ConnectionOptions } from "bullmq";
import type { Logger } from "pino";
import type { DeviceConfig, Driver, DriverDefinition } from "../drivers/types.js";
import { deviceQueueName, type NodeJobData, type WorkerRuntime } from "../engine/index.js";
import type { CommandRegistry } from "./command-registry.js";
import type { PresentDevice } from "./device-presence.js";
import { createNodeProcessor } from "./node-processor.js";

/** One hosted device: its open driver, the BullMQ worker on its queue, and its activity. */
export interface HostedDevice {
  present: PresentDevice;
  worker: Worker<NodeJobData>;
  driver: Driver;
}

/**
 * Opens a device's driver and creates (without starting) the worker that consumes only its queue,
 * at the device's capacity; `onActivity` hears of every command that starts or ends.
 */
export async function hostDevice(deps: {
  device: DeviceConfig;
  definition: DriverDefinition;
  runtime: WorkerRuntime;
  commands: CommandRegistry;
  connection: ConnectionOptions;
  prefix: string;
  log: Logger;
  onActivity(device: PresentDevice): void;
}): Promise<HostedDevice> {
  const { device, definition, log } = deps;
  const driver = definition.create(device);
  await driver.open();
  let active = 0;
  const present: PresentDevice = {
    id: device.id,
    driver: device.driver,
    capacity: device.capacity,
    active: () => active,
    state: () => (active > 0 ? "busy" : "idle"),
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
      active += 1;
      deps.onActivity(present);
      try {
        return await processNode(job);
      } finally {
        active -= 1;
        deps.onActivity(present);
      }
    },
    { connection: deps.connection, prefix: deps.prefix, concurrency: device.capacity, autorun: false },
  );
  worker.on("error", (error) => log.warn({ err: error }, "device worker error"));
  return { present, worker, driver };
}
