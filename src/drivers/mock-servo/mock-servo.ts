import { appendFileSync } from "node:fs";
import { z } from "zod";
import { DeviceError } from "../device-error.js";
import { waitOrAbort } from "../wait-or-abort.js";
import type { CommandContext, Driver, Outputs } from "../types.js";

export const mockServoOptions = z.object({
  speed: z.number().positive().default(500).describe("units per second"),
  min_position: z.number().default(0),
  max_position: z.number().default(180),
  /** Fault injection for demos and tests: the first N calls of a function fail, retryably. */
  fail_first: z.record(z.string(), z.number().int().min(0)).default({}),
  /**
   * For tests across processes: a file to which every command appends a JSON line when it starts,
   * at each step of its motion, and when it ends, so a test can count executions and overlaps
   * (when each process actually moved the servo) even across a worker's crash or freeze.
   */
  journal: z.string().optional(),
});
export type MockServoOptions = z.infer<typeof mockServoOptions>;

const progressSteps = 10;
/**
 * Numbers the journal's commands. Per process, not per servo: a worker that loses a device and
 * takes it back creates a new servo, and its commands must not reuse the old one's ids.
 */
let commandsInProcess = 0;

/** A command's context, with the id its journal entries carry. */
type StepContext = CommandContext & { commandId: string };

/**
 * A servo simulated in memory. It keeps its position between commands and, unlike real hardware,
 * notices when it is driven from two places at once: such a command fails with DEVICE_BUSY, so a
 * broken device lock shows up as a failed node rather than passing silently.
 */
export class MockServo implements Driver {
  private position = 0;
  private homed = false;
  private inFlight = 0;
  private readonly calls = new Map<string, number>();

  constructor(
    readonly deviceId: string,
    private readonly capacity: number,
    private readonly options: MockServoOptions,
  ) {}

  open(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async execute(
    functionId: string,
    params: Record<string, unknown>,
    context: CommandContext,
  ): Promise<Outputs> {
    if (this.inFlight >= this.capacity) {
      throw new DeviceError(
        "DEVICE_BUSY",
        `${this.deviceId}: asked to run '${functionId}' while ${this.inFlight} command(s) were in flight (capacity ${this.capacity})`,
        false,
      );
    }
    this.inFlight += 1;
    const id = `${process.pid}-${this.deviceId}-${(commandsInProcess += 1)}`;
    this.note({ id, at: Date.now(), event: "start", function: functionId, params });
    let outcome = "failed";
    try {
      const outputs = await this.run(functionId, params, { ...context, commandId: id });
      outcome = "completed";
      return outputs;
    } finally {
      this.inFlight -= 1;
      this.note({ id, at: Date.now(), event: "end", outcome });
    }
  }

  private async run(functionId: string, params: Record<string, unknown>, context: StepContext) {
    const call = (this.calls.get(functionId) ?? 0) + 1;
    this.calls.set(functionId, call);
    if (call <= (this.options.fail_first[functionId] ?? 0)) {
      throw new DeviceError(
        "DEVICE_ERROR",
        `${this.deviceId}: injected fault on call ${call} of '${functionId}'`,
        true,
      );
    }
    switch (functionId) {
      case "home":
        await this.travelTo(0, this.options.speed, context);
        this.homed = true;
        return { complete: true, position: 0.0 };
      case "move": {
        const target = params.position as number;
        this.checkRange(target);
        await this.travelTo(target, (params.speed as number | undefined) ?? this.options.speed, context);
        return { complete: true, position: target };
      }
      case "step": {
        const target = this.position + (params.delta as number);
        this.checkRange(target);
        await this.travelTo(target, this.options.speed, context);
        return { complete: true, position: target };
      }
      case "status":
        return { position: this.position, homed: this.homed };
      default:
        throw new DeviceError("FUNCTION_UNKNOWN", `${this.deviceId}: no function '${functionId}'`, false);
    }
  }

  private note(entry: Record<string, unknown>): void {
    if (this.options.journal) {
      appendFileSync(this.options.journal, `${JSON.stringify({ device: this.deviceId, ...entry })}\n`);
    }
  }

  private checkRange(target: number): void {
    const { min_position: min, max_position: max } = this.options;
    if (target < min || target > max) {
      throw new DeviceError(
        "DEVICE_ERROR",
        `${this.deviceId}: position ${target} is outside the servo's range [${min}, ${max}]`,
        false,
        { position: target, min_position: min, max_position: max },
      );
    }
  }

  /** Moves in steps so that progress is reported and a cancel stops the servo where it is. */
  private async travelTo(target: number, speed: number, context: StepContext): Promise<void> {
    const start = this.position;
    const totalMs = (Math.abs(target - start) / speed) * 1000;
    if (totalMs === 0) return;
    for (let step = 1; step <= progressSteps; step += 1) {
      await sleep(totalMs / progressSteps, context.signal, () => this.position);
      await this.holdWhileInDoubt(context, (step - 1) / progressSteps);
      this.position = start + ((target - start) * step) / progressSteps;
      this.note({ id: context.commandId, at: Date.now(), event: "step", position: this.position });
      context.progress(step / progressSteps, `${this.position.toFixed(1)} → ${target}`);
    }
  }

  /**
   * Before each step: a servo whose worker is unsure it may still drive it stays where it is until
   * the worker is sure again, and stops for good if it never will be.
   */
  private async holdWhileInDoubt(context: StepContext, done: number): Promise<void> {
    if (context.mayDrive?.() !== false) return;
    this.note({ id: context.commandId, at: Date.now(), event: "hold", position: this.position });
    context.progress(done, `held at ${this.position.toFixed(1)}: waiting to be sure of the device`);
    if (await (context.untilMayDrive?.() ?? Promise.resolve(true))) {
      this.note({ id: context.commandId, at: Date.now(), event: "resume", position: this.position });
      return;
    }
    throw new DeviceError(
      "CANCELLED",
      `stopped at position ${this.position.toFixed(1)}: no longer allowed to drive the device`,
      false,
    );
  }
}

async function sleep(ms: number, signal: AbortSignal, where: () => number): Promise<void> {
  if ((await waitOrAbort(ms, signal)) === "aborted") {
    throw new DeviceError("CANCELLED", `stopped at position ${where().toFixed(1)}: ${reason(signal)}`, false);
  }
}

function reason(signal: AbortSignal): string {
  const value: unknown = signal.reason;
  return value instanceof Error ? value.message : "aborted";
}
