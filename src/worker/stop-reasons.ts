import { DeviceError } from "../drivers/device-error.js";

/** The abort reason of commands stopped because their worker is shutting down. */
export const shutdownStop = new DeviceError(
  "NODE_INTERRUPTED",
  "the worker shut down before the command finished, and told the device to stop; check the device, then retry the run",
  false,
);

/** The abort reason of commands stopped because their worker lost the device's lease. */
export const leaseLostStop = new DeviceError(
  "NODE_INTERRUPTED",
  "the worker lost its lease on the device mid-command (it was frozen, or cut off from Redis, for longer than the lease) and told the device to stop; check the device, then retry the run",
  false,
);

/** The abort reason of commands that cannot pause, stopped because their worker is unsure of the device's lease. */
export const leaseInDoubtStop = new DeviceError(
  "NODE_INTERRUPTED",
  "the worker could not confirm its lease on the device (Redis stalled, or its link dropped packets) and told the device to stop, as this command cannot pause; check the device, then retry the run",
  false,
);

/**
 * The abort reason of commands stopped by an immediate pause of their run: an idempotent one is
 * queued again and runs from the start on resume; any other is held for a person, as this says.
 */
export const pauseStop = new DeviceError(
  "NODE_INTERRUPTED",
  "an immediate pause of the run stopped this command part-way; it is not idempotent, so it is held: check the device, then recover the node (retry, skip or complete)",
  false,
);

/**
 * Stops its worker made, not the run or the device: an idempotent command stopped by one of these
 * simply runs again, on whichever worker holds the device.
 */
export const workerStops: ReadonlySet<unknown> = new Set([shutdownStop, leaseLostStop, leaseInDoubtStop]);
