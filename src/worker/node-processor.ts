import { randomUUID } from "node:crypto";
import type { Job } from "bullmq";
import type { Logger } from "pino";
import { DeviceError } from "../drivers/device-error.js";
import type { Driver, FunctionSpec } from "../drivers/types.js";
import {
  fencedRetryMs,
  handBack,
  outputsRecorded,
  shapeError,
  type NodeAttempt,
  type NodeError,
  type NodeJobData,
  type WorkerRuntime,
} from "../engine/index.js";
import type { CommandRegistry } from "./command-registry.js";
import type { DeviceHold } from "./device-leases.js";
import type { InFlightNodes } from "./in-flight-nodes.js";
import { NodeDeadline } from "./node-deadline.js";
import { untilRecorded, type HeldOutcome } from "./record-outcome.js";
import { leaseLostStop, pauseStop, workerStops } from "./stop-reasons.js";

const progressIntervalMs = 100;

/**
 * How long a job set aside for another run's reservation waits before it looks again on its own.
 * The reservation's end wakes it sooner; this covers a wake-up lost to a crash or a race.
 */
const reservationRecheckMs = 2000;

/**
 * Runs one node job on one device: begin the attempt in the ledger, check the inputs in full, run
 * the driver with a timeout and a cancel signal, then record the outputs or the failure. Every
 * ledger write carries this tenure's fencing token.
 */
export function createNodeProcessor(deps: {
  driver: Driver;
  functions: ReadonlyMap<string, FunctionSpec>;
  runtime: WorkerRuntime;
  commands: CommandRegistry;
  inFlight: InFlightNodes;
  /** The worker's fencing token for the device, from the lease this tenure holds. */
  fence: string;
  /** This worker's hold on the device: no command starts, and pausable ones go no further, while it is in doubt. */
  hold: DeviceHold;
  log: Logger;
}) {
  const { driver, functions, runtime, commands, inFlight, fence, hold, log } = deps;

  /** `onOutcome` hears how a command on the device ended (null: it succeeded), if one ran. */
  return function processNode(
    job: Job<NodeJobData>,
    token: string | undefined,
    onOutcome: (error: NodeError | null) => void,
  ): Promise<Record<string, unknown>> {
    return inFlight.exclusive(job.data, () => attemptNode({ job, token, fence }, onOutcome));
  };

  async function attemptNode(
    attempt: NodeAttempt,
    onOutcome: (error: NodeError | null) => void,
  ): Promise<Record<string, unknown>> {
    const { job } = attempt;
    const data = job.data;
    const spec = functions.get(data.functionId);
    const command = commands.register(data.runId, data.deviceId, spec?.pausable ?? false);
    try {
      // Nothing begins while this worker is unsure of the device: it waits for its lease to be
      // confirmed, or hands the job back to whichever worker holds the device.
      if (!(await hold.untilMayDrive(command.signal))) {
        if (!command.signal.aborted)
          log.warn({ jobId: job.id }, "this worker no longer holds the device: handing the job back");
        return await handBack(attempt, fencedRetryMs);
      }
      const start = await runtime.lifecycle.begin(attempt);
      if (start.kind === "skip") return { skipped: true };
      if (start.kind === "fenced") {
        log.warn({ jobId: job.id }, "this worker no longer holds the device: handing the job back");
        return await handBack(attempt, fencedRetryMs);
      }
      if (start.kind === "interrupted") {
        const message =
          `${data.deviceId}: '${data.functionId}' was interrupted (its worker stopped mid-command) and ` +
          "is not idempotent, so it is not repeated by itself: check the device, then retry the run";
        return await runtime.lifecycle.fail(
          attempt,
          { code: "NODE_INTERRUPTED", message, retryable: false },
          0,
        );
      }
      if (start.kind === "wait") {
        log.debug({ jobId: job.id, reservedBy: start.holder }, `waiting for ${start.deviceId}'s reservation`);
        return await handBack(attempt, reservationRecheckMs);
      }
      const startedAt = performance.now();
      const seconds = () => Math.round(performance.now() - startedAt) / 1000;
      let outputs: Record<string, unknown>;
      try {
        const params = checkInputs(data, spec, start.inputs);
        const deadline = new NodeDeadline(data.timeoutMs, () =>
          command.abort(new DeviceError("NODE_TIMEOUT", `timed out after ${data.timeoutMs} ms`, true)),
        );
        const untilMayDrive = () => deadline.paused(() => hold.untilMayDrive(command.signal));
        try {
          // The lease may have come into doubt while the begin was on its way.
          if (!(await untilMayDrive()) && !command.signal.aborted) command.abort(leaseLostStop);
          // The failure is described by the abort's reason.
          if (command.signal.aborted) throw new DeviceError("CANCELLED", "stopped before it began", false);
          outputs = await driver.execute(data.functionId, params, {
            signal: command.signal,
            progress: progressReporter(job, fence, runtime, log),
            mayDrive: () => hold.mayDrive(),
            untilMayDrive,
          });
        } finally {
          deadline.clear();
        }
      } catch (error) {
        // A driver that found it may no longer drive the device stopped by itself: say why.
        if (!command.signal.aborted && !hold.held()) command.abort(leaseLostStop);
        const failure = describe(error, command.signal, data);
        onOutcome(failure);
        // Held until the ledger has it, whatever Redis does meanwhile (see untilRecorded).
        const executionTime = seconds();
        const holding = { log, stopping: commands.allAborted, outcome: about(attempt, { failure }) };
        // Stopped because this worker is shutting down past its grace period, or lost the device:
        // an idempotent command simply runs again (on whichever worker holds the device); a
        // non-idempotent one stopped part-way needs a person (NODE_INTERRUPTED).
        if (workerStops.has(command.signal.reason) && data.idempotent)
          return await untilRecorded(() => runtime.lifecycle.requeue(attempt, failure), holding);
        // Stopped by an immediate pause: an idempotent command is queued again and runs from the
        // start once the run is resumed; any other is held.
        if (command.signal.reason === pauseStop) {
          if (data.idempotent) {
            const paused = {
              code: failure.code,
              message: `${data.deviceId}: stopped by a pause of the run; runs again on resume`,
            };
            return await untilRecorded(() => runtime.lifecycle.requeueForResume(attempt, paused), holding);
          }
          return await untilRecorded(() => runtime.lifecycle.hold(attempt, failure, executionTime), holding);
        }
        return await untilRecorded(() => runtime.lifecycle.fail(attempt, failure, executionTime), holding);
      }
      onOutcome(null);
      // Held until the ledger has it, whatever Redis does meanwhile (see untilRecorded); the
      // completion's id makes a write made again answer as the first, and its started_at lets it
      // in after a lease lapsed meanwhile, as long as nobody has begun the node since.
      const executionTime = seconds();
      const completion = {
        startedAt: start.startedAt,
        finishedAt: new Date().toISOString(),
        id: randomUUID(),
      };
      const outcome = about(attempt, { outputs });
      const recorded = await untilRecorded(
        () => runtime.lifecycle.complete(attempt, outputs, executionTime, completion),
        { log, stopping: commands.allAborted, outcome },
      );
      if (!recorded) {
        log.warn(
          outcome,
          "the device's lease passed to another worker, which began the node again, before these outputs were recorded: they are not",
        );
        return await handBack(attempt, fencedRetryMs);
      }
      // The outputs are in the run's record now: BullMQ keeps no second and third copy of them.
      return outputsRecorded;
    } finally {
      commands.unregister(data.runId, command);
    }
  }
}

/** A command's outcome as the logs name it while the worker holds it. */
function about({ job }: NodeAttempt, ended: { outputs: unknown } | { failure: NodeError }): HeldOutcome {
  const { runId, nodeId, deviceId, functionId } = job.data;
  return { jobId: job.id, runId, nodeId, deviceId, functionId, ...ended };
}

function checkInputs(
  data: NodeJobData,
  spec: FunctionSpec | undefined,
  inputs: Record<string, unknown>,
): Record<string, unknown> {
  if (!spec) {
    throw new DeviceError(
      "FUNCTION_UNKNOWN",
      `device '${data.deviceId}' has no function '${data.functionId}'`,
      false,
    );
  }
  const parsed = spec.params.safeParse(inputs);
  if (!parsed.success) {
    const error = shapeError("PARAMS_INVALID", parsed.error, `node '${data.nodeId}' inputs`);
    throw new DeviceError("PARAMS_INVALID", error.message, false, error.details);
  }
  return parsed.data;
}

/** A failure as the ledger records it; an abort's reason says whether it was a timeout or a cancel. */
function describe(
  error: unknown,
  signal: AbortSignal,
  data: NodeJobData,
): NodeError & { retryable: boolean } {
  const reason: unknown = signal.aborted ? signal.reason : undefined;
  const cause = reason instanceof DeviceError ? reason : error;
  if (cause instanceof DeviceError) {
    // Drivers name the device themselves; a message that does not is given the device's name.
    const prefix = `${data.deviceId}: `;
    const message = cause.message.startsWith(prefix) ? cause.message : prefix + cause.message;
    return {
      code: cause.code,
      message,
      retryable: cause.retryable,
      ...(Object.keys(cause.details).length && { details: cause.details }),
    };
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return { code: "DEVICE_ERROR", message: `${data.deviceId}: ${message}`, retryable: true };
}

/** Progress is written in order and at most every 100 ms, except the last step, always written. */
function progressReporter(job: Job<NodeJobData>, fence: string, runtime: WorkerRuntime, log: Logger) {
  let lastAt = 0;
  return (fraction: number, message: string) => {
    const now = Date.now();
    if (fraction < 1 && now - lastAt < progressIntervalMs) return;
    lastAt = now;
    runtime.progress(job, fence, Math.min(1, Math.max(0, fraction)), message).catch((error: unknown) => {
      log.warn({ err: error, jobId: job.id }, "could not record progress");
    });
  };
}
