import { DeviceError } from "../drivers/device-error.js";

export interface RunningCommand {
  readonly signal: AbortSignal;
  abort(reason: DeviceError): void;
}

/**
 * The commands running in this process, by run, so that a cancel broadcast to every worker reaches
 * the one that runs the run's command, on whatever machine.
 */
export class CommandRegistry {
  private readonly byRun = new Map<string, Set<AbortController>>();

  register(runId: string): RunningCommand & { controller: AbortController } {
    const controller = new AbortController();
    const set = this.byRun.get(runId) ?? new Set();
    set.add(controller);
    this.byRun.set(runId, set);
    return { controller, signal: controller.signal, abort: (reason) => controller.abort(reason) };
  }

  unregister(runId: string, command: { controller: AbortController }): void {
    const set = this.byRun.get(runId);
    set?.delete(command.controller);
    if (set?.size === 0) this.byRun.delete(runId);
  }

  /** Aborts every command in this process with `reason` (a worker stopping past its grace period). */
  abortAll(reason: DeviceError): number {
    let count = 0;
    for (const set of this.byRun.values()) {
      for (const controller of set) {
        controller.abort(reason);
        count += 1;
      }
    }
    return count;
  }

  /** Stops the run's commands: it was cancelled, or ran past its timeout. */
  cancelRun(runId: string, reason: "cancelled" | "timeout" = "cancelled"): number {
    const set = this.byRun.get(runId);
    const error =
      reason === "timeout"
        ? new DeviceError("RUN_TIMEOUT", "stopped: the run ran past its timeout_ms", false)
        : new DeviceError("CANCELLED", "the run was cancelled", false);
    for (const controller of set ?? []) controller.abort(error);
    return set?.size ?? 0;
  }
}
