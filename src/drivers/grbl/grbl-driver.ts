import { DeviceError } from "../device-error.js";
import { OneAtATime } from "../one-at-a-time.js";
import { Reconnector } from "../serial/reconnector.js";
import { SerialLines } from "../serial/serial-lines.js";
import { waitOrAbort } from "../wait-or-abort.js";
import type { CommandContext, DeviceConfig, Driver, Outputs } from "../types.js";
import { alarmMeaning, errorMeaning } from "./grbl-codes.js";
import { parseStatus, type GrblStatus } from "./grbl-status.js";

const softReset = Buffer.from([0x18]);
/** How often a move's progress is read (`?` status reports); GRBL has no "motion done" message. */
const statusIntervalMs = 50;
const answerTimeoutMs = 2000;
/** How many status polls a resume from a feed hold may take: GRBL takes cycle start only once the hold is complete. */
const resumePolls = 100;

interface Axes {
  x?: number | undefined;
  y?: number | undefined;
  z?: number | undefined;
}

/**
 * A GRBL 1.1 controller (CNC stages, laser cutters) on a serial line.
 * - Lines are answered `ok` or `error:N`; `ok` to a move only means it was queued, so a move is
 *   finished when a status report says Idle, and its position is reported as progress meanwhile.
 * - `error:N` and `ALARM:N` fail the command with GRBL's own words for the code.
 * - Functions run one at a time, whole (a move's G0 and its status polls never interleave with
 *   another function's lines); `stop` does not wait its turn, and neither does a cancel.
 * - A cancel sends feed hold (`!`) and a soft reset (0x18) past anything queued: the stage stops.
 * - A move is held (feed hold) while the worker is unsure it may drive the machine, and goes on
 *   (cycle start, `~`) once it is sure again; homing cannot be held.
 * - After a disconnect it reconnects with backoff and redoes its handshake (a soft reset, then the
 *   banner); the position is unknown until the next home.
 */
export class GrblDriver implements Driver {
  private readonly lines: SerialLines;
  private readonly reconnector: Reconnector;
  private homed = false;
  /** The last ALARM:N GRBL sent on its own, to name the alarm when a status report shows one. */
  private lastAlarm: number | undefined;
  private readonly turns: OneAtATime;

  constructor(
    readonly deviceId: string,
    device: DeviceConfig,
  ) {
    if (!device.path) throw new Error(`device '${deviceId}' (grbl) needs a "path" to its serial port`);
    this.lines = new SerialLines({ deviceId, path: device.path, baudRate: device.baudRate ?? 115200 });
    this.turns = new OneAtATime(deviceId, "the machine");
    this.reconnector = new Reconnector(
      () => this.open(),
      () => this.lines.close(),
    );
    this.lines.on("unsolicited", (line) => {
      const alarm = /^ALARM:(\d+)/.exec(line);
      if (alarm) this.lastAlarm = Number(alarm[1]);
    });
    this.lines.on("disconnect", () => {
      this.homed = false;
      this.reconnector.start();
    });
  }

  get connected(): boolean {
    return this.lines.isOpen;
  }

  async open(): Promise<void> {
    await this.lines.open();
    await this.handshake();
  }

  async close(): Promise<void> {
    this.reconnector.stop();
    await this.lines.close();
  }

  async execute(
    functionId: string,
    params: Record<string, unknown>,
    context: CommandContext,
  ): Promise<Outputs> {
    if (functionId === "stop") {
      await this.stop();
      return { stopped: true };
    }
    return this.turns.run(() => this.run(functionId, params, context), context.signal);
  }

  private async run(functionId: string, params: Record<string, unknown>, context: CommandContext) {
    switch (functionId) {
      case "home":
        await this.command("$H", 120_000, context.signal);
        this.homed = true;
        return { homed: true, ...(await this.status()).position };
      case "move":
        return this.move(params, context);
      case "status": {
        const { state, position } = await this.status();
        return { state, homed: this.homed, ...position };
      }
      case "unlock":
        await this.command("$X", answerTimeoutMs, context.signal);
        return { unlocked: true };
      default:
        throw new DeviceError(
          "FUNCTION_UNKNOWN",
          `${this.deviceId}: grbl has no function '${functionId}'`,
          false,
        );
    }
  }

  private async move(target: Axes & { feed?: number }, context: CommandContext): Promise<Outputs> {
    this.lastAlarm = undefined;
    const words = (["x", "y", "z"] as const).flatMap((axis) =>
      target[axis] === undefined ? [] : [`${axis.toUpperCase()}${target[axis].toFixed(3)}`],
    );
    if (words.length === 0) {
      throw new DeviceError(
        "PARAMS_INVALID",
        `${this.deviceId}: a move needs at least one of x, y, z`,
        false,
      );
    }
    const motion = target.feed === undefined ? "G0" : `G1 F${target.feed}`;
    const start = (await this.status()).position;
    await this.command(`G90 ${motion} ${words.join(" ")}`, answerTimeoutMs, context.signal);
    const goal = { x: target.x ?? start.x, y: target.y ?? start.y, z: target.z ?? start.z };
    const distance = Math.hypot(goal.x - start.x, goal.y - start.y, goal.z - start.z);
    for (;;) {
      const { state, position } = await this.status();
      const left = Math.hypot(goal.x - position.x, goal.y - position.y, goal.z - position.z);
      const done = distance === 0 ? 1 : 1 - left / distance;
      context.progress(done, `${state} at ${format(position)}`);
      if (state === "Idle") return { ...position };
      if (state === "Alarm") {
        if (this.lastAlarm !== undefined) throw this.alarmError(this.lastAlarm);
        throw new DeviceError(
          "DEVICE_ERROR",
          `${this.deviceId}: the machine went into alarm during the move`,
          false,
        );
      }
      if (context.mayDrive?.() === false) await this.holdWhileInDoubt(context, done);
      await this.pause(statusIntervalMs, context.signal);
    }
  }

  /**
   * Feed hold while the worker is unsure it may still drive the machine: motion decelerates and
   * stops, and GRBL keeps its position and the rest of the move (unlike a stop). Cycle start goes on
   * with the move once the worker is sure again; if it never will be, the machine is stopped.
   */
  private async holdWhileInDoubt(context: CommandContext, done: number): Promise<void> {
    await this.lines.writeRealtime("!");
    context.progress(done, "held: waiting to be sure of the machine");
    for (let poll = 0; poll < resumePolls;) {
      // Checked before each cycle start too: the certainty that ended the hold may be short-lived.
      if (context.mayDrive?.() === false) {
        if (await (context.untilMayDrive?.() ?? Promise.resolve(true))) continue;
        await this.stop().catch(() => undefined);
        throw new DeviceError(
          "CANCELLED",
          `${this.deviceId}: the move was stopped: no longer allowed to drive the machine`,
          false,
        );
      }
      // Cycle start is ignored while the hold is still decelerating (Hold:1): sent until GRBL moves on.
      if ((await this.status()).state !== "Hold") return;
      await this.lines.writeRealtime("~");
      await this.pause(statusIntervalMs, context.signal);
      poll += 1;
    }
    throw new DeviceError(
      "DEVICE_ERROR",
      `${this.deviceId}: the machine stayed in a feed hold after cycle start`,
      true,
    );
  }

  /** Sends a line and waits for `ok`; a cancel stops the machine before it rejects. */
  private async command(line: string, timeoutMs: number, signal: AbortSignal): Promise<string[]> {
    try {
      return await this.lines.exchange(line, (answer) => this.untilOk(line, answer), { timeoutMs, signal });
    } catch (error) {
      if (error instanceof DeviceError && error.code === "CANCELLED")
        await this.stop().catch(() => undefined);
      throw error;
    }
  }

  private untilOk(line: string, answer: string): "more" | "done" {
    if (answer === "ok") return "done";
    const error = /^error:(\d+)/.exec(answer);
    if (error) {
      const code = Number(error[1]);
      throw new DeviceError(
        "DEVICE_ERROR",
        `${this.deviceId}: '${line}' gave error ${code}: ${errorMeaning(code)}`,
        false,
        {
          grbl_error: code,
        },
      );
    }
    const alarm = /^ALARM:(\d+)/.exec(answer);
    if (alarm) throw this.alarmError(Number(alarm[1]));
    if (answer === "" || /^[<[]|^Grbl /.test(answer)) return "more"; // reports and messages may interleave
    throw new DeviceError(
      "DEVICE_ERROR",
      `${this.deviceId}: unexpected answer to '${line}': '${answer.slice(0, 80)}'`,
      true,
    );
  }

  /**
   * A status report: `?` is a realtime byte, answered out of turn with one `<...>` line. Asked
   * through the serial lines so that an unplug while the answer is pending fails the command
   * DEVICE_DISCONNECTED at once, not DEVICE_TIMEOUT after the answer's timeout.
   */
  private status(): Promise<GrblStatus> {
    return this.lines.ask(
      "?",
      (line) => {
        const alarm = /^ALARM:(\d+)/.exec(line);
        if (alarm) throw this.alarmError(Number(alarm[1]));
        return parseStatus(line);
      },
      { timeoutMs: answerTimeoutMs, timeoutMessage: `no status report within ${answerTimeoutMs} ms` },
    );
  }

  /** Feed hold, then soft reset: motion stops at once, whatever was queued is dropped. */
  private async stop(): Promise<void> {
    await this.lines.writeRealtime("!");
    await this.handshake();
    this.homed = false;
  }

  /** A soft reset and GRBL's banner: the controller is there, and listening. */
  private async handshake(): Promise<void> {
    await this.lines.ask(softReset, (line) => (line.startsWith("Grbl ") ? line : undefined), {
      timeoutMs: answerTimeoutMs,
      timeoutMessage: "no GRBL banner after a soft reset",
    });
  }

  private alarmError(code: number): DeviceError {
    this.homed = false;
    return new DeviceError("DEVICE_ERROR", `${this.deviceId}: alarm ${code}: ${alarmMeaning(code)}`, false, {
      grbl_alarm: code,
    });
  }

  private async pause(ms: number, signal: AbortSignal): Promise<void> {
    if ((await waitOrAbort(ms, signal)) === "elapsed") return;
    await this.stop().catch(() => undefined);
    throw new DeviceError("CANCELLED", `${this.deviceId}: the move was stopped`, false);
  }
}

const format = (p: { x: number; y: number; z: number }) =>
  `X${p.x.toFixed(3)} Y${p.y.toFixed(3)} Z${p.z.toFixed(3)}`;
