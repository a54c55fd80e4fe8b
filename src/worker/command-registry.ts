import { DeviceError } from "../drivers/device-error.js";
import { pauseStop } from "./stop-reasons.js";

export interface RunningCommand {
  readonly signal: AbortSignal;
  abort(reason: DeviceError): void;
}

interface Registered {
  controller: AbortController;
  deviceId: string;
  /** The command can be held mid-way (its function is pausable). */
  pausable: boolean;
}

/**
 * The commands running in this process, by run, so that a cancel broadcast to every worker reaches
 * the one that runs the run's command, on whatever machine; and by device, so that a worker that
 * loses a device's lease stops what it runs there.
 */
export class CommandRegistry {
  private readonly byRun = new Map<string, Set<Registered>>();
  private readonly stopping = new AbortController();
  /**
   * Aborted once abortAll() has been called: the worker is stopping past its grace period, and
   * whatever still waits (for Redis to take a finished command's outcome) gives up now.
   */
  readonly allAborted: AbortSignal = this.stopping.signal;

  register(runId: string, deviceId: string, pausable: boolean): RunningCommand & { entry: Registered } {
    const entry = { controller: new AbortController(), deviceId, pausable };
    const set = this.byRun.get(runId) ?? new Set();
    set.add(entry);
    this.byRun.set(runId, set);
    return {
      entry,
      signal: entry.controller.signal,
      abort: (reason) => entry.controller.abort(reason),
    };
  }

  unregister(runId: string, command: { entry: Registered }): void {
    const set = this.byRun.get(runId);
    set?.delete(command.entry);
    if (set?.size === 0) this.byRun.delete(runId);
  }

  /** The runs that have a command running in this process. */
  runIds(): string[] {
    return [...this.byRun.keys()];
  }

  /** Aborts every command in this process with `reason` (a worker stopping past its grace period). */
  abortAll(reason: DeviceError): number {
    this.stopping.abort(reason);
    return this.abortWhere(() => true, reason);
  }

  /** Aborts the commands running on one device (this worker lost its lease). */
  abortDevice(deviceId: string, reason: DeviceError): number {
    return this.abortWhere((entry) => entry.deviceId === deviceId, reason);
  }

  /** Aborts the commands on one device that cannot pause (this worker is unsure of its lease). */
  abortUnpausable(deviceId: string, reason: DeviceError): number {
    return this.abortWhere((entry) => entry.deviceId === deviceId && !entry.pausable, reason);
  }

  /** Stops the run's commands: it was cancelled, ran past its timeout, or was paused at once. */
  cancelRun(runId: string, reason: "cancelled" | "timeout" | "pause" = "cancelled"): number {
    const set = this.byRun.get(runId);
    const error =
      reason === "pause"
        ? pauseStop
        : reason === "timeout"
          ? new DeviceError("RUN_TIMEOUT", "stopped: the run ran past its timeout_ms", false)
          : new DeviceError("CANCELLED", "the run was cancelled", false);
    let count = 0;
    for (const { controller } of set ?? []) {
      if (controller.signal.aborted) continue;
      controller.abort(error);
      count += 1;
    }
    return count;
  }

  private abortWhere(match: (entry: Registered) => boolean, reason: DeviceError): number {
    let count = 0;
    for (const set of this.byRun.values()) {
      for (const entry of set) {
        if (!match(entry) || entry.controller.signal.aborted) continue;
        entry.controller.abort(reason);
        count += 1;
      }
    }
    return count;
  }
}
