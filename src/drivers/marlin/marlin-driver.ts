import { DeviceError } from "../device-error.js";
import { Reconnector } from "../serial/reconnector.js";
import { SerialLines } from "../serial/serial-lines.js";
import type { CommandContext, DeviceConfig, Driver, Outputs } from "../types.js";
import { isOk, numbered, parseError, parseResend, parseUnknownCommand } from "./marlin-lines.js";
import { parsePosition, type Position } from "./marlin-position.js";

/** An answer to a line that runs at once (M110, M114, a queued G0/G1). */
const answerTimeoutMs = 2000;
const homeTimeoutMs = 120_000;
const motionTimeoutMs = 300_000;
/** Marlin says `echo:busy: processing` every 2 s by default: this much silence means it is gone. */
const defaultSilenceMs = 10_000;
/** How often one line is sent again when Marlin asks (`Resend:`) before giving up. */
const maxResends = 3;
/** After a cancel: how long to wait for the `ok`s of the interrupted line and of M410. */
const settleMs = 2000;
const historySize = 16;

interface Axes {
  x?: number | undefined;
  y?: number | undefined;
  z?: number | undefined;
}

interface SendOptions {
  /** The longest the command may take in all. */
  timeoutMs: number;
  /** The longest Marlin may say nothing at all (busy messages count as something). */
  silenceMs: number;
  signal: AbortSignal;
}

/**
 * A Marlin firmware (3D printers, and the lab robots and liquid handlers built on them) on a
 * serial line.
 * - Every line is sent numbered with a checksum (`N<n> <gcode>*<cs>`), numbering started by
 *   `M110 N0`; each is answered `ok`. On `Error:...Last Line:` + `Resend: n` the line is sent again.
 * - `ok` to G0/G1 only means queued: a move waits on M400, then reads the position with M114.
 * - `echo:busy: processing` during G28 or M400 keeps the command alive; silence past a limit fails
 *   it with DEVICE_TIMEOUT. Other `Error:` lines and unknown commands fail it with Marlin's words.
 * - A cancel sends M410 (quickstop, handled at once by Marlin's emergency parser).
 * - Functions run one at a time, whole (a move's G1, M400 and M114 never interleave with another's).
 * - Device option `silence_timeout_ms` (default 10 s): how long Marlin may say nothing, busy lines
 *   included, before a command fails; raise it for a build without HOST_KEEPALIVE_FEATURE.
 * - After a disconnect it reconnects with backoff and redoes the handshake; the position is unknown
 *   until the next home.
 */
export class MarlinDriver implements Driver {
  private readonly lines: SerialLines;
  private readonly silenceMs: number;
  private homed = false;
  private closed = false;
  /** The number the next line is sent with. */
  private nextLine = 1;
  /** Recently sent lines by number, for `Resend:`. */
  private readonly history = new Map<number, string>();
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
    this.lines = new SerialLines({ deviceId, path: device.path, baudRate: device.baudRate ?? 115200 });
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
      if (parseError(line) !== undefined) this.homed = false;
    });
    this.lines.on("disconnect", () => {
      this.homed = false;
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
          await this.send("G28", {
            timeoutMs: homeTimeoutMs,
            silenceMs: this.silenceMs,
            signal: context.signal,
          });
          this.homed = true;
          return { homed: true, ...(await this.position(context.signal)) };
        }
        case "move":
          return await this.move(params, context);
        default:
          return { homed: this.homed, ...(await this.position(context.signal)) };
      }
    } catch (error) {
      if (error instanceof DeviceError) {
        if (error.code === "CANCELLED") hold(this.stop(error.details.inFlight === true));
        if (error.code === "DEVICE_TIMEOUT") this.needsResync = true;
      }
      throw error;
    }
  }

  private async move(target: Axes & { feed?: number }, context: CommandContext): Promise<Outputs> {
    const words = (["x", "y", "z"] as const).flatMap((axis) =>
      target[axis] === undefined ? [] : [`${axis.toUpperCase()}${target[axis].toFixed(3)}`],
    );
    const motion = target.feed === undefined ? "G0" : `G1 F${target.feed}`;
    const { signal } = context;
    await this.send(`${motion} ${words.join(" ")}`, {
      timeoutMs: motionTimeoutMs,
      silenceMs: this.silenceMs,
      signal,
    });
    context.progress(0, `moving to ${words.join(" ")}`);
    await this.send("M400", { timeoutMs: motionTimeoutMs, silenceMs: this.silenceMs, signal });
    const position = await this.position(signal);
    context.progress(1, `at X${position.x} Y${position.y} Z${position.z}`);
    return { ...position };
  }

  private async position(signal: AbortSignal): Promise<Position> {
    const answer = await this.send("M114", {
      timeoutMs: answerTimeoutMs,
      silenceMs: answerTimeoutMs,
      signal,
    });
    for (const line of answer) {
      const position = parsePosition(line);
      if (position) return position;
    }
    throw new DeviceError(
      "DEVICE_ERROR",
      `${this.deviceId}: M114 gave no position (answer: '${answer.join(" | ").slice(0, 120)}')`,
      true,
    );
  }

  /**
   * Sends one numbered line and waits for its `ok`, sending lines again when Marlin asks. Resolves
   * with the lines Marlin answered (the `ok` included).
   */
  private async send(gcode: string, options: SendOptions): Promise<string[]> {
    const n = this.nextLine;
    this.nextLine += 1;
    this.history.set(n, gcode);
    this.history.delete(n - historySize);
    let line = n;
    let resends = 0;
    for (;;) {
      const text = this.history.get(line);
      if (text === undefined) {
        throw new DeviceError(
          "DEVICE_ERROR",
          `${this.deviceId}: Marlin asked for line ${line} again, which was never sent or is too old`,
          true,
          { line },
        );
      }
      const { answer, resend } = await this.exchange(line, text, options);
      if (resend === undefined) {
        if (line === n) return answer;
        line += 1;
        continue;
      }
      resends += 1;
      if (resends > maxResends) {
        throw new DeviceError(
          "DEVICE_ERROR",
          `${this.deviceId}: Marlin asked for '${gcode}' again ${resends} times (line noise?)`,
          true,
          { line: n },
        );
      }
      line = resend;
    }
  }

  /** One numbered line, one `ok`; busy lines keep it waiting and reset the silence timer. */
  private async exchange(
    n: number,
    gcode: string,
    { timeoutMs, silenceMs, signal }: SendOptions,
  ): Promise<{ answer: string[]; resend: number | undefined }> {
    let resend: number | undefined;
    let unknown: string | undefined;
    const silence = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => silence.abort(), silenceMs);
    };
    const onAbort = () => silence.abort();
    if (signal.aborted) {
      throw new DeviceError("CANCELLED", `${this.deviceId}: cancelled before '${gcode}'`, false);
    }
    signal.addEventListener("abort", onAbort, { once: true });
    arm();
    try {
      const answer = await this.lines.exchange(
        numbered(n, gcode),
        (incoming) => {
          arm();
          if (isOk(incoming)) {
            if (unknown !== undefined) {
              throw new DeviceError(
                "DEVICE_ERROR",
                `${this.deviceId}: Marlin does not know '${gcode}' (it said: Unknown command: "${unknown}")`,
                false,
                { marlin: incoming },
              );
            }
            return "done";
          }
          const asked = parseResend(incoming);
          if (asked !== undefined) resend = asked;
          const unknownCommand = parseUnknownCommand(incoming);
          if (unknownCommand !== undefined) unknown = unknownCommand;
          const error = parseError(incoming);
          if (error !== undefined) {
            this.homed = false;
            throw new DeviceError(
              "DEVICE_ERROR",
              `${this.deviceId}: '${gcode}' failed: Marlin said "${error}"`,
              false,
              { marlin: incoming },
            );
          }
          // Framing errors (Resend and ok follow), busy lines, echo: and reports: keep waiting.
          return "more";
        },
        { timeoutMs, signal: silence.signal },
      );
      return { answer, resend };
    } catch (error) {
      if (error instanceof DeviceError && error.code === "CANCELLED") {
        if (signal.aborted) {
          throw new DeviceError("CANCELLED", `${this.deviceId}: '${gcode}' was cancelled`, false, {
            inFlight: true,
          });
        }
        throw new DeviceError(
          "DEVICE_TIMEOUT",
          `${this.deviceId}: Marlin said nothing for ${silenceMs} ms after '${gcode}'`,
          true,
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
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
    await this.lines.open();
    try {
      await this.handshake();
    } catch (error) {
      await this.lines.close().catch(() => undefined);
      throw error;
    }
  }

  /** `N0 M110 N0`: Marlin is there and listening, and the next line is number 1. Then G90. */
  private async handshake(): Promise<void> {
    const signal = new AbortController().signal;
    this.nextLine = 0;
    this.history.clear();
    this.needsResync = true;
    await this.send("M110 N0", { timeoutMs: answerTimeoutMs, silenceMs: answerTimeoutMs, signal });
    await this.send("G90", { timeoutMs: answerTimeoutMs, silenceMs: answerTimeoutMs, signal });
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

function checkMove(deviceId: string, params: Axes): void {
  if (params.x === undefined && params.y === undefined && params.z === undefined) {
    throw new DeviceError("PARAMS_INVALID", `${deviceId}: a move needs at least one of x, y, z`, false);
  }
}
