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
/** How long GRBL may take to boot and say its banner when the port is opened. */
const bootTimeoutMs = 5000;
/** How long after a banner another may still come, when the port was opened during a boot. */
const bannerQuietMs = 300;
/** How long a status report may take before `?` is sent again (it may have been lost on the line). */
const statusRetryMs = 500;
/** How long a status report may take while the controller is coming up, before `?` is sent again. */
const readyProbeMs = 300;
/** How many status polls a resume from a feed hold may take: GRBL takes cycle start only once the hold is complete. */
const resumePolls = 100;
/**
 * How long a stop waits for a feed hold to bring motion to rest (Hold:0) before it resets anyway.
 * A reset in motion costs the position (GRBL raises ALARM:3); at rest it keeps it.
 */
const holdSettleMs = 5000;
/** Closer than this to its target (a step is 0.004 mm at GRBL's default 250 steps/mm), a move has arrived. */
const goalToleranceMm = 0.01;
/** Idle reports in a row that end a move which never showed motion (GRBL's cycle start lags its `ok`). */
const idleReportsToFinish = 5;
/** How long a motion command waits for the machine to come to Idle (a previous motion finishing). */
const idleWaitMs = 2000;

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
 * - A stop (a cancel, a lost lease, any failure while the machine may be moving) sends feed hold
 *   (`!`), waits until motion has come to rest (`Hold:0`), then soft-resets (0x18): the queue is
 *   dropped and GRBL keeps its position. If the hold does not settle within 5 s it resets anyway,
 *   and GRBL's ALARM:3 says that the position is lost.
 * - An alarm (`ALARM:N`, a report in state Alarm, a machine that boots locked) is the device's
 *   fault until `unlock` or `home` clears it: motion commands fail at once saying so.
 * - A motion command starts only on an Idle machine.
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
  /** What is wrong with the machine, as an operator should read it: an alarm, a machine not idle. */
  private problem: string | undefined;
  /** A motion command was sent and the machine has not been seen at rest since. */
  private moving = false;
  /**
   * A limit alarm (ALARM:1 or 2) GRBL treats as critical: until a soft reset it ignores everything,
   * status requests included ("Reset to continue").
   */
  private critical: number | undefined;
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
      if (alarm) this.alarmed(Number(alarm[1]));
      else if (line.includes("'$H'|'$X' to unlock") && !this.problem)
        this.problem = "the machine is locked (alarm): home it or unlock it before moving it";
    });
    this.lines.on("disconnect", () => {
      this.homed = false;
      this.moving = false;
      this.reconnector.start();
    });
  }

  get connected(): boolean {
    return this.lines.isOpen;
  }

  /** An alarm, or a machine found not idle when a motion command was due: the device shows error. */
  get fault(): string | undefined {
    return this.problem && `${this.deviceId}: ${this.problem}`;
  }

  async open(): Promise<void> {
    await this.lines.open();
    // Opening the port resets many boards (an Arduino's DTR line): GRBL's banner then comes once
    // it has booted, which takes longer than a soft reset. The banner seen may be the boot's, with
    // our reset read only after it, and its own banner (and a dropped `?`) still to come: so the
    // banners must stop, and then a `?` be answered.
    await this.handshake(bootTimeoutMs);
    await this.untilBannersStop();
    const until = Date.now() + bootTimeoutMs;
    for (;;) {
      try {
        await this.status(readyProbeMs);
        return;
      } catch (error) {
        if (Date.now() >= until || !(error instanceof DeviceError) || error.code !== "DEVICE_TIMEOUT")
          throw error;
      }
    }
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
      const kept = await this.stop();
      return { stopped: true, position_kept: kept };
    }
    return this.turns.run(() => this.runStopping(functionId, params, context), context.signal);
  }

  /** Runs a function; if it fails while the machine may be moving, stops the machine first. */
  private async runStopping(functionId: string, params: Record<string, unknown>, context: CommandContext) {
    try {
      return await this.run(functionId, params, context);
    } catch (error) {
      if (this.moving) await this.stop().catch(() => undefined);
      throw error;
    }
  }

  private async run(functionId: string, params: Record<string, unknown>, context: CommandContext) {
    switch (functionId) {
      case "home":
        await this.resetIfCritical();
        await this.untilIdle(true);
        this.moving = true;
        await this.command("$H", 120_000, context.signal);
        this.moving = false;
        this.homed = true;
        this.problem = undefined;
        return { homed: true, ...(await this.status()).position };
      case "move":
        await this.untilIdle(false);
        return this.move(params, context);
      case "status": {
        const { state, position } = await this.status();
        return { state, homed: this.homed, ...position };
      }
      case "unlock":
        await this.resetIfCritical();
        await this.command("$X", answerTimeoutMs, context.signal);
        this.problem = undefined;
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
    this.moving = true;
    await this.command(`G90 ${motion} ${words.join(" ")}`, answerTimeoutMs, context.signal);
    const goal = { x: target.x ?? start.x, y: target.y ?? start.y, z: target.z ?? start.z };
    const distance = Math.hypot(goal.x - start.x, goal.y - start.y, goal.z - start.z);
    // GRBL answers `ok` once the move is planned and may still report Idle for a moment before
    // its cycle starts: Idle means done once the machine has moved, is at the goal, or stays Idle.
    let moved = false;
    let idleReports = 0;
    for (;;) {
      const { state, position } = await this.status();
      const left = Math.hypot(goal.x - position.x, goal.y - position.y, goal.z - position.z);
      const done = distance === 0 ? 1 : 1 - left / distance;
      context.progress(done, `${state} at ${format(position)}`);
      if (state !== "Idle") moved = true;
      else if (moved || left < goalToleranceMm || (idleReports += 1) >= idleReportsToFinish) {
        this.moving = false;
        return { ...position };
      }
      if (state === "Alarm") {
        this.moving = false; // GRBL stopped it itself
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
      if (code === 9) throw this.lockedError();
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
  private async status(timeoutMs = answerTimeoutMs): Promise<GrblStatus> {
    // A machine in a critical alarm would not answer: say why at once.
    if (this.critical !== undefined) throw this.alarmError(this.critical);
    // GRBL answers `?` within milliseconds; one that got lost (a garbled byte) is asked again.
    const tries = Math.max(1, Math.ceil(timeoutMs / statusRetryMs));
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.askStatus(Math.min(timeoutMs, statusRetryMs), timeoutMs);
      } catch (error) {
        if (attempt >= tries || !(error instanceof DeviceError) || error.code !== "DEVICE_TIMEOUT")
          throw error;
      }
    }
  }

  private askStatus(timeoutMs: number, totalMs: number): Promise<GrblStatus> {
    return this.lines.ask(
      "?",
      (line) => {
        const alarm = /^ALARM:(\d+)/.exec(line);
        if (alarm) throw this.alarmError(Number(alarm[1]));
        const status = parseStatus(line);
        // The machine's own word on its state: an alarm is a fault until it is gone.
        if (status?.state === "Alarm")
          this.problem ??= "the machine is in alarm: unlock or home it before moving it";
        else if (status?.state === "Idle") this.problem = undefined;
        return status;
      },
      { timeoutMs, timeoutMessage: `no status report within ${totalMs} ms` },
    );
  }

  /**
   * Feed hold until motion has come to rest, then soft reset: whatever was queued is dropped, and
   * GRBL keeps its position. Returns whether it did (false: the hold did not settle in time, or the
   * machine could not be asked, and the reset may have cost the position).
   */
  private async stop(): Promise<boolean> {
    await this.lines.writeRealtime("!");
    const atRest = await this.untilAtRest().catch(() => false);
    await this.handshake();
    this.moving = false;
    if (!atRest) this.homed = false;
    return atRest;
  }

  /** Waits until a feed hold has brought the machine to rest (Hold:0, or Idle), for at most holdSettleMs. */
  private async untilAtRest(): Promise<boolean> {
    const until = Date.now() + holdSettleMs;
    for (;;) {
      const { state, sub } = await this.status();
      if (state === "Idle" || (state === "Hold" && sub === 0)) return true;
      // Homing ignores a feed hold, and an alarm has stopped the machine already: reset at once.
      if (state === "Home" || state === "Alarm" || Date.now() >= until) return false;
      await sleep(statusIntervalMs);
    }
  }

  /**
   * Before a motion command: the machine must be Idle. It may still be finishing a previous
   * motion for a moment; otherwise (an alarm, a hold) the command fails at once and the device
   * shows why. Homing may start from an alarm: it is one way out of it.
   */
  private async untilIdle(homing: boolean): Promise<void> {
    const until = Date.now() + idleWaitMs;
    for (;;) {
      const { state } = await this.status();
      if (state === "Idle") return;
      if (state === "Alarm") {
        if (homing) return;
        throw this.lockedError();
      }
      if (Date.now() >= until) {
        this.problem = `the machine is not idle (${state}): a previous motion did not end; check it, then unlock or home it`;
        throw new DeviceError("DEVICE_ERROR", `${this.deviceId}: ${this.problem}`, false, {
          grbl_state: state,
        });
      }
      await sleep(statusIntervalMs);
    }
  }

  /** A soft reset and GRBL's banner: the controller is there, and listening. */
  private async handshake(timeoutMs = answerTimeoutMs): Promise<void> {
    await this.lines.ask(softReset, (line) => (line.startsWith("Grbl ") ? line : undefined), {
      timeoutMs,
      timeoutMessage: "no GRBL banner after a soft reset",
    });
    this.critical = undefined; // GRBL comes back from a reset in Alarm, listening again
  }

  /** Resolves once no banner has come for bannerQuietMs. */
  private untilBannersStop(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.lines.off("unsolicited", onLine);
        resolve();
      };
      let timer = setTimeout(done, bannerQuietMs);
      const onLine = (line: string) => {
        if (!line.startsWith("Grbl ")) return;
        clearTimeout(timer);
        timer = setTimeout(done, bannerQuietMs);
      };
      this.lines.on("unsolicited", onLine);
    });
  }

  /** The way out of a critical alarm starts with a reset; the alarm itself stays until unlock or home. */
  private async resetIfCritical(): Promise<void> {
    if (this.critical !== undefined) await this.handshake();
  }

  private alarmError(code: number): DeviceError {
    this.alarmed(code);
    return new DeviceError("DEVICE_ERROR", `${this.deviceId}: ${this.problem}`, false, { grbl_alarm: code });
  }

  private alarmed(code: number): void {
    this.lastAlarm = code;
    if (code === 1 || code === 2) this.critical = code;
    this.homed = false;
    this.problem = `alarm ${code}: ${alarmMeaning(code)}; unlock or home it before moving it`;
  }

  /** GRBL refuses G-code in alarm (error:9): say what the operator does about it. */
  private lockedError(): DeviceError {
    this.problem ??= "the machine is in alarm: unlock or home it before moving it";
    return new DeviceError("DEVICE_ERROR", `${this.deviceId}: ${this.problem}`, false, { grbl_error: 9 });
  }

  private async pause(ms: number, signal: AbortSignal): Promise<void> {
    if ((await waitOrAbort(ms, signal)) === "elapsed") return;
    const kept = await this.stop().catch(() => false);
    throw new DeviceError(
      "CANCELLED",
      kept
        ? `${this.deviceId}: the move was stopped; the machine kept its position`
        : `${this.deviceId}: the move was stopped, and the machine's position is lost: home it before the next move`,
      false,
    );
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const format = (p: { x: number; y: number; z: number }) =>
  `X${p.x.toFixed(3)} Y${p.y.toFixed(3)} Z${p.z.toFixed(3)}`;
