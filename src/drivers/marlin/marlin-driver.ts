import { DeviceError } from "../device-error.js";
import { Reconnector } from "../serial/reconnector.js";
import { SerialLines } from "../serial/serial-lines.js";
import type { CommandContext, DeviceConfig, Driver, Outputs } from "../types.js";
import { MarlinLink, maxTries, type LinkSendOptions } from "./marlin-link.js";
import { isOk } from "./marlin-lines.js";
import { parsePosition, type Position } from "./marlin-position.js";
import { classify } from "./marlin-replies.js";

/** Silence after a line that runs at once (M110, M114, a queued G0/G1): Marlin is gone. */
const answerSilenceMs = 2000;
const homeTimeoutMs = 120_000;
const motionTimeoutMs = 300_000;
/** Marlin says `echo:busy: processing` every 2 s by default: this much silence means it is gone. */
const defaultSilenceMs = 10_000;
/** Silence after a line that runs at once before the driver prompts (a line or its `ok` was garbled). */
const defaultPromptMs = 500;
/** After a cancel: how long to wait for the `ok`s of the interrupted line and of M410. */
const settleMs = 2000;
/** M114 answers carry no checksum: reads until two agree (or one shows the target), at most this many. */
const maxPositionReads = 6;

interface Axes {
  x?: number | undefined;
  y?: number | undefined;
  z?: number | undefined;
}

/**
 * A Marlin firmware (3D printers, and the lab robots and liquid handlers built on them) on a
 * serial line.
 * - Every line is sent numbered with a checksum (`N<n> <gcode>*<cs>`), numbering started by
 *   `M110 N0`; each is answered `ok`. A noisy line is recovered from (see MarlinLink and Delivery):
 *   a refused or garbled line is sent again, a silence draws a numbered M105 prompt, the handshake
 *   is repeated on the open port; past a bounded number of tries the command fails with
 *   DEVICE_ERROR "line noise: gave up after N tries...". Line numbers keep a line from running twice.
 * - `ok` to G0/G1 only means queued: a move waits on M400, then reads the position with M114 (read
 *   again until two answers agree, or one shows the target: an answer has no checksum). A move
 *   whose M400 had to be sent again and that stopped short is sent once more: one flipped bit turns
 *   M400 into M410, which Marlin's emergency parser obeys before any checksum is checked.
 * - `echo:busy: processing` during G28 or M400 keeps the command alive; silence past a limit fails
 *   it with DEVICE_TIMEOUT. Other `Error:` lines and unknown commands fail it with Marlin's words.
 * - A cancel sends M410 (quickstop, handled at once by Marlin's emergency parser).
 * - Functions run one at a time, whole (a move's G1, M400 and M114 never interleave with another's).
 * - Device option `silence_timeout_ms` (default 10 s): how long Marlin may say nothing, busy lines
 *   included, before a command fails; raise it for a build without HOST_KEEPALIVE_FEATURE.
 *   `prompt_ms` (default 500): the silence after a line that answers at once before the driver
 *   prompts; G28 and M400 wait for a quarter of the silence limit (over Marlin's 2 s keepalive).
 * - After a disconnect it reconnects with backoff and redoes the handshake; the position is unknown
 *   until the next home.
 */
export class MarlinDriver implements Driver {
  private readonly lines: SerialLines;
  private readonly link: MarlinLink;
  private readonly silenceMs: number;
  private readonly promptMs: number;
  private homed = false;
  private closed = false;
  /** Where Marlin was at the last position read that agreed with itself; unknown after a fault. */
  private known: Position | undefined;
  /** The tail of the function queue: a function starts when the one before it has settled. */
  private queue: Promise<void> = Promise.resolve();
  /** Set when the line numbering or the ok count may be off (a cancel, a timeout): redo M110 first. */
  private needsResync = false;
  private readonly reconnector: Reconnector;

  constructor(
    readonly deviceId: string,
    device: DeviceConfig,
  ) {
    if (!device.path) throw new Error(`device '${deviceId}' (marlin) needs a "path" to its serial port`);
    const silence = device.options.silence_timeout_ms;
    this.silenceMs = typeof silence === "number" && silence > 0 ? silence : defaultSilenceMs;
    const prompt = device.options.prompt_ms;
    this.promptMs = typeof prompt === "number" && prompt > 0 ? prompt : defaultPromptMs;
    this.lines = new SerialLines({ deviceId, path: device.path, baudRate: device.baudRate ?? 115200 });
    this.link = new MarlinLink(this.lines, deviceId);
    this.reconnector = new Reconnector(
      () =>
        this.exclusive(async () => {
          if (this.closed) return;
          await this.connect();
          if (this.closed) await this.lines.close();
        }),
      () => this.lines.close(),
    );
    this.lines.on("unsolicited", (line) => {
      // Marlin reports a kill (thermal runaway, MINTEMP) on its own too: the position is lost.
      if (classify(line).kind === "fatal") this.homed = false;
    });
    this.lines.on("disconnect", () => {
      this.homed = false;
      this.known = undefined;
      this.reconnector.start();
    });
  }

  get connected(): boolean {
    return this.lines.isOpen;
  }

  open(): Promise<void> {
    return this.exclusive(() => this.connect());
  }

  async close(): Promise<void> {
    this.closed = true;
    this.reconnector.stop();
    await this.lines.close();
  }

  execute(functionId: string, params: Record<string, unknown>, context: CommandContext): Promise<Outputs> {
    return this.exclusive((hold) => this.run(functionId, params, context, hold));
  }

  private async run(
    functionId: string,
    params: Record<string, unknown>,
    context: CommandContext,
    hold: (settling: Promise<void>) => void,
  ): Promise<Outputs> {
    if (!["home", "move", "status"].includes(functionId)) {
      throw new DeviceError(
        "FUNCTION_UNKNOWN",
        `${this.deviceId}: marlin has no function '${functionId}'`,
        false,
      );
    }
    if (functionId === "move") checkMove(this.deviceId, params);
    // Cancelled while waiting its turn: nothing of it reached the device, so there is nothing to stop.
    if (context.signal.aborted) {
      throw new DeviceError(
        "CANCELLED",
        `${this.deviceId}: '${functionId}' was cancelled before it ran`,
        false,
      );
    }
    try {
      if (this.needsResync) await this.handshake();
      switch (functionId) {
        case "home": {
          this.homed = false;
          this.known = undefined;
          await this.link.send("G28", this.blocking(homeTimeoutMs, context.signal));
          this.homed = true;
          return { homed: true, ...(await this.position(context.signal)) };
        }
        case "move":
          return await this.move(params, context);
        default:
          return { homed: this.homed, ...(await this.position(context.signal)) };
      }
    } catch (error) {
      this.known = undefined;
      if (error instanceof DeviceError) {
        if (error.code === "CANCELLED") hold(this.stop(error.details.inFlight === true));
        // The numbering or the count of `ok`s may be off: start it again before the next function.
        if (error.code === "DEVICE_TIMEOUT" || error.details.lineNoise === true) this.needsResync = true;
        if (error.details.fatal === true) this.homed = false;
      }
      throw error;
    }
  }

  private async move(target: Axes & { feed?: number }, context: CommandContext): Promise<Outputs> {
    const words = axes.flatMap((axis) =>
      target[axis] === undefined ? [] : [`${axis.toUpperCase()}${target[axis].toFixed(3)}`],
    );
    const motion = `${target.feed === undefined ? "G0" : `G1 F${target.feed}`} ${words.join(" ")}`;
    const { signal } = context;
    const goal = definedAxes(target);
    const expected = { ...this.known, ...goal };
    this.known = undefined;
    await this.link.send(motion, this.blocking(motionTimeoutMs, signal));
    context.progress(0, `moving to ${words.join(" ")}`);
    const wait = await this.link.send("M400", this.blocking(motionTimeoutMs, signal));
    let position = await this.position(signal, expected);
    // One flipped bit makes M400 read M410 to Marlin's emergency parser, which acts on the bytes as
    // they arrive, checksum or not: the motion stops short. Only then is the move sent once more.
    if (wait.sends > 1 && !matches(position, { ...position, ...goal })) {
      await this.link.send(motion, this.blocking(motionTimeoutMs, signal));
      await this.link.send("M400", this.blocking(motionTimeoutMs, signal));
      position = await this.position(signal, expected);
    }
    context.progress(1, `at X${position.x} Y${position.y} Z${position.z}`);
    return { ...position };
  }

  /**
   * M114 until two answers agree, or one shows every axis of `expected`: an answer has no
   * checksum, and a garbled digit would go unseen.
   */
  private async position(signal: AbortSignal, expected: Axes = {}): Promise<Position> {
    const seen: Position[] = [];
    const answers: string[] = [];
    for (let read = 0; read < maxPositionReads; read += 1) {
      const { answer } = await this.link.send("M114", this.quick(signal));
      answers.push(...answer);
      const position = answer.map(parsePosition).find((p) => p !== undefined);
      if (!position) continue;
      if (matches(position, expected) || seen.some((earlier) => matches(position, earlier))) {
        this.known = position;
        return position;
      }
      seen.push(position);
    }
    throw new DeviceError(
      "DEVICE_ERROR",
      `${this.deviceId}: M114 gave no position twice alike in ${maxPositionReads} reads (line noise?) ` +
        `(answers: '${answers.join(" | ").slice(0, 160)}')`,
      true,
      { lineNoise: true },
    );
  }

  /** A line that Marlin answers at once. */
  private quick(signal: AbortSignal): LinkSendOptions {
    const promptMs = Math.min(this.promptMs, answerSilenceMs);
    return { timeoutMs: answerSilenceMs + promptMs * maxTries, silenceMs: answerSilenceMs, promptMs, signal };
  }

  /** A line that blocks (G28, M400), kept alive by busy messages. */
  private blocking(timeoutMs: number, signal: AbortSignal): LinkSendOptions {
    const promptMs = Math.max(this.promptMs, this.silenceMs / 4);
    return { timeoutMs, silenceMs: this.silenceMs, promptMs, signal };
  }

  /**
   * M410, as a raw line: Marlin's emergency parser stops all motion at once, keeping the position
   * reached. Resolves when the `ok`s still owed (the interrupted line's, M410's) have come, or after
   * a while; the next function then starts the numbering again.
   */
  private stop(lineInFlight: boolean): Promise<void> {
    this.needsResync = true;
    let owed = lineInFlight ? 2 : 1;
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.lines.off("unsolicited", onLine);
        this.lines.off("disconnect", done);
        resolve();
      };
      const onLine = (line: string) => {
        if (isOk(line)) owed -= 1;
        if (owed <= 0) done();
      };
      const timer = setTimeout(done, settleMs);
      this.lines.on("unsolicited", onLine);
      this.lines.on("disconnect", done);
      this.lines.writeRealtime("M410\n").catch(done);
    });
  }

  private async connect(): Promise<void> {
    // Open already when an earlier handshake gave up on a noisy line: opening again would reset an
    // Arduino-based board (DTR), so the handshake is tried again on the open port.
    if (!this.lines.isOpen) await this.lines.open();
    try {
      await this.handshake();
    } catch (error) {
      if (!(error instanceof DeviceError && error.details.lineNoise === true)) {
        await this.lines.close().catch(() => undefined);
      }
      throw error;
    }
  }

  /** `N0 M110 N0`: Marlin is there and listening, and the next line is number 1. Then G90. */
  private async handshake(): Promise<void> {
    const signal = new AbortController().signal;
    this.needsResync = true;
    this.known = undefined;
    await this.link.resync(this.quick(signal));
    await this.link.send("G90", this.quick(signal));
    this.needsResync = false;
  }

  /**
   * Runs `job` when every function before it has settled. A job may `hold` the queue past its own
   * end (a cancel waits for the device to settle) without keeping its caller waiting.
   */
  private exclusive<T>(job: (hold: (settling: Promise<void>) => void) => Promise<T>): Promise<T> {
    const holds: Promise<void>[] = [];
    const run = this.queue.then(() => job((settling) => holds.push(settling)));
    this.queue = run.then(
      () => Promise.all(holds).then(() => undefined),
      () => Promise.all(holds).then(() => undefined),
    );
    return run;
  }
}

const axes = ["x", "y", "z"] as const;

function definedAxes(target: Axes): Axes {
  const defined: Axes = {};
  for (const axis of axes) if (target[axis] !== undefined) defined[axis] = target[axis];
  return defined;
}

/** Whether `position` is `expected` on all three axes, to Marlin's two decimals. */
function matches(position: Position, expected: Axes): boolean {
  return axes.every((axis) => {
    const value = expected[axis];
    return value !== undefined && Math.abs(position[axis] - value) < 0.006;
  });
}

function checkMove(deviceId: string, params: Axes): void {
  if (params.x === undefined && params.y === undefined && params.z === undefined) {
    throw new DeviceError("PARAMS_INVALID", `${deviceId}: a move needs at least one of x, y, z`, false);
  }
}
