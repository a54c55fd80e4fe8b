import { Worker, type ConnectionOptions } from "bullmq";
import type { Logger } from "pino";
import type { DeviceConfig, Driver, DriverDefinition } from "../drivers/types.js";
import {
  deviceQueueName,
  nodeBackoffStrategy,
  type NodeError,
  type NodeJobData,
  type WorkerRuntime,
} from "../engine/index.js";
import type { CommandRegistry } from "./command-registry.js";
import type { DeviceHold, LeasedDevice } from "./device-leases.js";
import { jobLockOptions } from "./job-locks.js";
import type { InFlightNodes } from "./in-flight-nodes.js";
import { createNodeProcessor } from "./node-processor.js";
import { leaseInDoubtStop, leaseLostStop } from "./stop-reasons.js";

/** How long to wait between attempts to open a device that was not there. */
const openRetryMs = [500, 1000, 2000, 5000];
/** Failures that mean the device itself is in trouble and may need a person (an alarm, silence). */
const faultCodes = new Set(["DEVICE_ERROR", "DEVICE_TIMEOUT"]);

/** One device this worker is configured with: served while this worker holds its lease. */
export interface HostedDevice {
  device: LeasedDevice;
  /** Stops serving (the current command finishes) and closes the device. */
  stop(): Promise<void>;
}

/** One stretch of holding a device's lease: a fresh driver and a BullMQ worker on its queue. */
interface Tenure {
  driver: Driver;
  opened: boolean;
  end(): Promise<void>;
}

type HostDeps = {
  device: DeviceConfig;
  definition: DriverDefinition;
  runtime: WorkerRuntime;
  commands: CommandRegistry;
  inFlight: InFlightNodes;
  /** This worker's hold on the device (DeviceLeases.holdOf). */
  holdOf(device: LeasedDevice): DeviceHold;
  connection: ConnectionOptions;
  prefix: string;
  log: Logger;
  onActivity(device: LeasedDevice): void;
};

/**
 * Hosts one device. Nothing is opened until this worker holds the device's lease, so two workers
 * never drive one device. Then a driver and a worker that consumes only this device's queue, at
 * its capacity. A device missing when the lease comes does not stop the worker's other devices:
 * it shows offline, and its queue waits until it can be opened.
 */
export function hostDevice(deps: HostDeps): HostedDevice {
  const { device, log } = deps;
  let tenure: Tenure | undefined;
  /** The previous tenure's end: a new one opens the device only once the old one has closed it. */
  let ending: Promise<void> = Promise.resolve();
  let stopped = false;
  let active = 0;
  let fault = "";
  const running = new Map<string, string>();

  const leased: LeasedDevice = {
    id: device.id,
    driver: device.driver,
    capacity: device.capacity,
    active: () => active,
    current: () => [...running.values()],
    state: () => {
      if (!tenure?.opened || tenure.driver.connected === false) return "offline";
      if (active > 0) return "busy";
      return leased.fault() ? "error" : "idle";
    },
    // The device's own account first (an alarm lasts until it is cleared), then the last failure's.
    fault: () => tenure?.driver.fault ?? fault,
    acquired(fence) {
      if (stopped || tenure) return;
      tenure = serve(deps, leased, fence, ending, {
        begin(key, label) {
          active += 1;
          running.set(key, label);
          deps.onActivity(leased);
        },
        end(key, outcome) {
          active -= 1;
          running.delete(key);
          if (outcome === null) fault = "";
          else if (outcome && faultCodes.has(outcome.code)) fault = outcome.message;
          deps.onActivity(leased);
        },
      });
    },
    inDoubt() {
      const stopped = deps.commands.abortUnpausable(device.id, leaseInDoubtStop);
      if (stopped > 0)
        log.warn({ stopped }, "stopped the device's commands that cannot pause: its lease is in doubt");
    },
    lost() {
      const old = tenure;
      tenure = undefined;
      // At once, not when the commands end by themselves: another worker may be driving the device.
      const stopped = deps.commands.abortDevice(device.id, leaseLostStop);
      if (stopped > 0) log.warn({ stopped }, "stopped the device's commands: its lease is lost");
      // Chained: a tenure acquired next opens the device only once every earlier one has closed it.
      const previous = ending;
      ending = Promise.all([
        previous,
        (old?.end() ?? Promise.resolve()).catch((error: unknown) =>
          log.warn({ err: error }, "could not close the device"),
        ),
      ]).then(() => undefined);
    },
  };

  return {
    device: leased,
    async stop() {
      stopped = true;
      await Promise.all([ending, tenure?.end()]);
    },
  };
}

/** Opens the device (retrying in the background while it is missing), then consumes its queue. */
function serve(
  deps: HostDeps,
  leased: LeasedDevice,
  fence: string,
  previous: Promise<void>,
  track: {
    begin(key: string, label: string): void;
    /** `outcome`: null if the command succeeded, undefined if none ran (a skip, a wait). */
    end(key: string, outcome: NodeError | null | undefined): void;
  },
): Tenure {
  const { device, definition, log } = deps;
  const driver = definition.create(device);
  let ended = false;
  let retry: NodeJS.Timeout | undefined;
  const processNode = createNodeProcessor({
    driver,
    functions: new Map(definition.functions.map((fn) => [fn.id, fn])),
    runtime: deps.runtime,
    commands: deps.commands,
    inFlight: deps.inFlight,
    fence,
    hold: deps.holdOf(leased),
    log,
  });
  const worker = new Worker<NodeJobData>(
    deviceQueueName(device.id),
    async (job, token) => {
      const key = job.id ?? "";
      track.begin(key, `${job.data.runId}/${job.data.nodeId}: ${job.data.functionId}`);
      let outcome: NodeError | null | undefined;
      try {
        return await processNode(job, token, (error) => {
          outcome = error;
        });
      } finally {
        track.end(key, outcome);
      }
    },
    {
      connection: deps.connection,
      prefix: deps.prefix,
      concurrency: device.capacity,
      autorun: false,
      settings: { backoffStrategy: nodeBackoffStrategy }, // the delay node_retrying announced
      ...jobLockOptions,
    },
  );
  worker.on("error", (error) => log.warn({ err: error }, "device worker error"));

  const tenure: Tenure = {
    driver,
    opened: false,
    async end() {
      ended = true;
      clearTimeout(retry);
      await worker.close();
      await driver.close().catch(() => undefined);
    },
  };
  const open = async (attempt: number): Promise<void> => {
    // Lost again before the previous tenure had closed the device: never open it.
    if (ended) return;
    try {
      await driver.open();
    } catch (error) {
      if (attempt === 0) log.warn({ err: error }, "device not available; will keep trying");
      if (!ended) {
        const delay = openRetryMs[Math.min(attempt, openRetryMs.length - 1)];
        retry = setTimeout(() => void open(attempt + 1), delay);
      }
      return;
    }
    if (ended) {
      await driver.close().catch(() => undefined);
      return;
    }
    tenure.opened = true;
    deps.onActivity(leased);
    log.info("device open");
    void worker.run().catch((error: unknown) => log.error({ err: error }, "device worker stopped"));
  };
  void previous.then(() => open(0));
  return tenure;
}
