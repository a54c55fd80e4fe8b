import { z } from "zod";
import { DeviceError } from "../device-error.js";
import { OneAtATime } from "../one-at-a-time.js";
import { Reconnector } from "../serial/reconnector.js";
import { SerialLines } from "../serial/serial-lines.js";
import type { CommandContext, DeviceConfig, Driver, Outputs } from "../types.js";
import { parseErrorEntry, parseIdentity, parseScpiNumber, SCPI_NAN, SCPI_OVERLOAD } from "./scpi-answers.js";

/** The `options` of an scpi device in the devices file. */
export const scpiOptions = z.object({
  answer_timeout_ms: z
    .number()
    .int()
    .positive()
    .default(2000)
    .describe("how long a query (and each SYST:ERR? check) may wait for its answer"),
  measure_timeout_ms: z
    .number()
    .int()
    .positive()
    .default(10_000)
    .describe("how long a MEAS...? query may take: slow ranges and integration times take seconds"),
});
export type ScpiOptions = z.infer<typeof scpiOptions>;

export const quantities = {
  voltage_dc: { query: "MEAS:VOLT:DC?", unit: "V" },
  voltage_ac: { query: "MEAS:VOLT:AC?", unit: "V" },
  current_dc: { query: "MEAS:CURR:DC?", unit: "A" },
  resistance: { query: "MEAS:RES?", unit: "Ohm" },
} as const;
export type Quantity = keyof typeof quantities;

/** `*IDN?` must answer within this on open and after a reconnect. */
const handshakeTimeoutMs = 2000;
/** `*RST` may take a while on a real instrument; the SYST:ERR? after it waits at least this long. */
const resetTimeoutMs = 5000;
/** How many `SYST:ERR?` reads drain the error queue at most after one command. */
const maxErrorReads = 10;

/**
 * An SCPI instrument (a bench multimeter, a power supply...) on an RS-232 line.
 * - Queries (`...?`) are answered with one line; commands are not answered at all. So a command is
 *   written, and the `SYST:ERR?` read that follows proves it was processed.
 * - After every command and query the error queue is read with `SYST:ERR?` until it says 0 (at most
 *   {@link maxErrorReads} reads): a non-zero entry fails the function with the instrument's words.
 * - A query left unanswered is a timeout, unless the error queue then explains it (a bad query is
 *   not answered either, it only queues an error).
 * - One function runs at a time, its command and its error checks together (a driver-level mutex):
 *   commands are written outside {@link SerialLines.exchange}, so nothing else may be in flight.
 * - After a disconnect it reconnects with backoff and redoes its handshake (`*IDN?`).
 * Not done: SCPI compound messages, service requests (*SRE/*STB), binary blocks.
 */
export class ScpiDriver implements Driver {
  private readonly lines: SerialLines;
  private closed = false;
  /** The port is open and the instrument answered `*IDN?`. */
  private ready = false;
  /** The `*IDN?` answer of the handshake: the marker that resynchronizes after a lost answer. */
  private identity: string | undefined;
  /**
   * A query timed out or was cancelled: its answer may still come, and must not be taken for the
   * answer to the next one. The next function first resynchronizes (see {@link resync}).
   */
  private unsynced = false;
  /** Functions and handshakes take turns: the next starts when the last has ended. */
  private readonly turns: OneAtATime;
  private readonly reconnector: Reconnector;
  /** Rejects the functions in flight when the driver closes. */
  private readonly inFlight = new Set<(error: DeviceError) => void>();

  constructor(
    readonly deviceId: string,
    device: DeviceConfig,
    private readonly options: ScpiOptions = scpiOptions.parse({}),
  ) {
    if (!device.path) throw new Error(`device '${deviceId}' (scpi) needs a "path" to its serial port`);
    this.turns = new OneAtATime(deviceId, "the instrument");
    this.lines = new SerialLines({ deviceId, path: device.path, baudRate: device.baudRate ?? 9600 });
    this.reconnector = new Reconnector(
      async () => {
        await this.turns.run(() => this.connect());
        if (this.closed) await this.lines.close();
      },
      () => this.lines.close(),
    );
    // An instrument speaks only when asked: a line out of turn is a late answer, dropped.
    this.lines.on("unsolicited", () => undefined);
    this.lines.on("disconnect", () => {
      this.ready = false;
      this.reconnector.start();
    });
  }

  /** False between a disconnect and the reconnect's handshake, and before open(). */
  get connected(): boolean {
    return this.ready && this.lines.isOpen;
  }

  async open(): Promise<void> {
    this.closed = false;
    await this.turns.run(() => this.connect());
  }

  async close(): Promise<void> {
    this.closed = true;
    this.ready = false;
    this.reconnector.stop();
    const gone = new DeviceError("DEVICE_DISCONNECTED", `${this.deviceId}: the driver was closed`, true);
    for (const reject of this.inFlight) reject(gone);
    await this.lines.close();
  }

  execute(functionId: string, params: Record<string, unknown>, context: CommandContext): Promise<Outputs> {
    return new Promise<Outputs>((resolve, reject) => {
      this.inFlight.add(reject);
      this.turns
        .run(() => this.run(functionId, params, context), context.signal)
        .then(resolve, reject)
        .finally(() => this.inFlight.delete(reject));
    });
  }

  private async run(
    functionId: string,
    params: Record<string, unknown>,
    context: CommandContext,
  ): Promise<Outputs> {
    const { signal } = context;
    if (this.unsynced) await this.resync(signal);
    switch (functionId) {
      case "identify": {
        const answer = await this.query("*IDN?", this.options.answer_timeout_ms, signal);
        const identity = parseIdentity(answer);
        if (!identity) throw this.unexpected("'*IDN?'", answer);
        await this.checkErrors("*IDN?", this.options.answer_timeout_ms, signal);
        return { ...identity };
      }
      case "reset":
        await this.send("*RST");
        await this.send("*CLS");
        await this.checkErrors("*RST", Math.max(resetTimeoutMs, this.options.answer_timeout_ms), signal);
        return { reset: true };
      case "write": {
        const command = this.commandParam(params, "write");
        await this.send(command);
        await this.checkErrors(command, this.options.answer_timeout_ms, signal);
        return { written: true };
      }
      case "query": {
        const command = this.commandParam(params, "query");
        return { response: await this.checkedQuery(command, this.options.answer_timeout_ms, signal) };
      }
      case "measure":
        return this.measure(params, context);
      default:
        throw new DeviceError(
          "FUNCTION_UNKNOWN",
          `${this.deviceId}: scpi has no function '${functionId}'`,
          false,
        );
    }
  }

  private async measure(params: Record<string, unknown>, context: CommandContext): Promise<Outputs> {
    const quantity = (params.quantity ?? "voltage_dc") as Quantity;
    const spec = quantities[quantity] as (typeof quantities)[Quantity] | undefined;
    if (!spec) {
      throw new DeviceError(
        "PARAMS_INVALID",
        `${this.deviceId}: cannot measure '${String(quantity)}' (one of ${Object.keys(quantities).join(", ")})`,
        false,
      );
    }
    context.progress(0, `measuring ${quantity}`);
    const answer = await this.checkedQuery(spec.query, this.options.measure_timeout_ms, context.signal);
    const value = parseScpiNumber(answer);
    if (value === undefined) throw this.unexpected(`'${spec.query}'`, answer);
    if (Math.abs(value) >= SCPI_OVERLOAD) {
      const what = Math.abs(value) >= SCPI_NAN ? "not a number" : "an overload";
      throw new DeviceError(
        "DEVICE_ERROR",
        `${this.deviceId}: '${spec.query}' reported ${what} (${answer})`,
        false,
        {
          value: answer,
        },
      );
    }
    context.progress(1, `${value} ${spec.unit}`);
    return { value, unit: spec.unit, quantity };
  }

  /** A query and the error check after it; a query left unanswered is explained by the queue if it can be. */
  private async checkedQuery(command: string, timeoutMs: number, signal: AbortSignal): Promise<string> {
    let answer: string;
    try {
      answer = await this.query(command, timeoutMs, signal);
    } catch (error) {
      if (error instanceof DeviceError && error.code === "DEVICE_TIMEOUT") {
        // A bad query is not answered: its error is in the queue. If the check fails too, the
        // instrument is silent and the timeout is the news.
        await this.checkErrors(command, this.options.answer_timeout_ms, signal).catch((check: unknown) => {
          if (check instanceof DeviceError && check.details.scpi_error !== undefined) throw check;
        });
      }
      throw error;
    }
    await this.checkErrors(command, this.options.answer_timeout_ms, signal);
    return answer;
  }

  /** Sends a query and resolves with its one-line answer; blank lines are noise. */
  private async query(command: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
    try {
      const answer = await this.lines.exchange(command, (line) => (line.trim() === "" ? "more" : "done"), {
        timeoutMs,
        ...(signal && { signal }),
      });
      return (answer.at(-1) ?? "").trim();
    } catch (error) {
      if (error instanceof DeviceError && (error.code === "DEVICE_TIMEOUT" || error.code === "CANCELLED"))
        this.unsynced = true;
      throw error;
    }
  }

  /**
   * After a lost answer: asks `*IDN?` and drops every line before the instrument's identity. An
   * instrument answers in order, so a late answer still on its way comes before it.
   */
  private async resync(signal: AbortSignal): Promise<void> {
    const identity = this.identity;
    await this.lines.exchange(
      "*IDN?",
      (line) => ((identity === undefined ? parseIdentity(line) : line.trim() === identity) ? "done" : "more"),
      { timeoutMs: this.options.answer_timeout_ms, signal },
    );
    this.unsynced = false;
  }

  /** Writes a command that has no answer. Only ever called holding the turn: nothing else is in flight. */
  private async send(command: string): Promise<void> {
    await this.lines.writeRealtime(`${command}\n`);
  }

  /**
   * Reads the error queue until it is empty (at most {@link maxErrorReads} reads) and fails with the
   * first error in it, naming `command`, the one that ran just before.
   */
  private async checkErrors(command: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const errors: { code: number; message: string }[] = [];
    for (let read = 0; read < maxErrorReads; read += 1) {
      let answer: string;
      try {
        answer = await this.query("SYST:ERR?", timeoutMs, signal);
      } catch (error) {
        if (error instanceof DeviceError && error.code === "DEVICE_TIMEOUT") {
          throw new DeviceError(
            "DEVICE_TIMEOUT",
            `${this.deviceId}: no answer to 'SYST:ERR?' after '${command}' within ${timeoutMs} ms`,
            true,
          );
        }
        throw error;
      }
      const entry = parseErrorEntry(answer);
      if (!entry) throw this.unexpected(`'SYST:ERR?' after '${command}'`, answer);
      if (entry.code === 0) break;
      errors.push(entry);
    }
    const [first, ...later] = errors;
    if (!first) return;
    throw new DeviceError(
      "DEVICE_ERROR",
      `${this.deviceId}: '${command}' gave SCPI error ${first.code} "${first.message}"`,
      false,
      { scpi_error: first.code, ...(later.length > 0 && { later_errors: later }) },
    );
  }

  private commandParam(params: Record<string, unknown>, functionId: "write" | "query"): string {
    const command = params.command;
    const valid =
      typeof command === "string" &&
      command.length > 0 &&
      command.length <= 256 &&
      !/[\r\n]/.test(command) &&
      (command.trim().split(/\s/)[0] ?? "").endsWith("?") === (functionId === "query");
    if (!valid) {
      throw new DeviceError(
        "PARAMS_INVALID",
        `${this.deviceId}: ${functionId} needs a "command" of 1 to 256 characters on one line, ${
          functionId === "query" ? "its header ending with '?'" : "its header not ending with '?' (use query)"
        }`,
        false,
      );
    }
    return command.trim();
  }

  /** Opens the port and asks `*IDN?`: the instrument is there, and listening. */
  private async connect(): Promise<void> {
    await this.lines.open();
    try {
      const answer = await this.query("*IDN?", handshakeTimeoutMs);
      if (!answer) throw this.unexpected("'*IDN?'", answer);
      this.identity = answer;
      this.unsynced = false;
      this.ready = true;
    } catch (error) {
      await this.lines.close().catch(() => undefined);
      if (error instanceof DeviceError && error.code === "DEVICE_TIMEOUT") {
        throw new DeviceError(
          "DEVICE_TIMEOUT",
          `${this.deviceId}: no answer to '*IDN?' within ${handshakeTimeoutMs} ms: is an SCPI instrument there, at this baud rate?`,
          true,
        );
      }
      throw error;
    }
  }

  private unexpected(what: string, answer: string): DeviceError {
    return new DeviceError(
      "DEVICE_ERROR",
      `${this.deviceId}: unexpected answer to ${what}: '${answer.slice(0, 80)}'`,
      true,
      { answer: answer.slice(0, 200) },
    );
  }
}
