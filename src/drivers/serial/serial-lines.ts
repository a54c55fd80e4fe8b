import { EventEmitter } from "node:events";
import { existsSync } from "node:fs";
import { autoDetect } from "@serialport/bindings-cpp";
import { ReadlineParser } from "@serialport/parser-readline";
import { SerialPortStream } from "@serialport/stream";
import { DeviceError } from "../device-error.js";
import type { Binding } from "./binding-types.js";
import { disconnectAware } from "./disconnect-aware-binding.js";

export interface SerialLinesOptions {
  /** What the device is called in errors. */
  deviceId: string;
  path: string;
  baudRate: number;
  /** The binding; by default the platform's, made disconnect-aware. Tests pass a mock or a pty. */
  binding?: Binding;
  /** Incoming lines end with this; "\r" before it is dropped. */
  delimiter?: string;
}

/**
 * Told each incoming line of an exchange: "more" to keep collecting, "done" to end it. It may throw
 * a DeviceError (an error code, an alarm, garbage): the exchange then rejects with it.
 */
export type LineCollector = (line: string) => "more" | "done";

export interface ExchangeOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface AskOptions {
  timeoutMs: number;
  /** The DEVICE_TIMEOUT's message after the device id, e.g. "no status report within 2000 ms". */
  timeoutMessage: string;
}

/**
 * A line-oriented serial connection, the ground every text protocol here stands on (GRBL, Marlin,
 * SCPI). Behaviour:
 * - `exchange` writes one line and collects the answering lines until the collector says done. One
 *   exchange is in flight at a time; others wait their turn, in order.
 * - An exchange rejects with DEVICE_TIMEOUT when the device is silent past `timeoutMs`, with
 *   CANCELLED when its signal aborts, and with DEVICE_DISCONNECTED when the port goes away; the
 *   exchanges waiting behind it reject the same way on a disconnect.
 * - `writeRealtime` sends bytes at once, past any exchange in flight (GRBL's `!`, `~`, 0x18).
 * - `ask` sends bytes at once and waits for their answer among the unsolicited lines (GRBL's `?`
 *   and its status report); like an exchange, it rejects DEVICE_DISCONNECTED when the port goes.
 * - A port whose device file disappears counts as disconnected within 200 ms (platform binding).
 * - Lines that arrive outside an exchange are emitted as "unsolicited"; a disconnect is emitted as
 *   "disconnect", once per open.
 */
export class SerialLines extends EventEmitter<{ unsolicited: [string]; disconnect: [Error] }> {
  private port: SerialPortStream | undefined;
  private collector: ((line: string) => void) | undefined;
  private onGone: ((error: DeviceError) => void) | undefined;
  private turn: Promise<void> = Promise.resolve();
  private watch: NodeJS.Timeout | undefined;

  constructor(private readonly options: SerialLinesOptions) {
    super();
  }

  get isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  /** Opens the port. Note that opening flushes: whatever the device sent before is lost. */
  async open(): Promise<void> {
    const { path, baudRate } = this.options;
    const binding = this.options.binding ?? disconnectAware(autoDetect());
    const port = new SerialPortStream({ binding, path, baudRate, autoOpen: false });
    await new Promise<void>((resolve, reject) =>
      port.open((error) => (error ? reject(this.openError(error)) : resolve())),
    );
    const parser = port.pipe(new ReadlineParser({ delimiter: this.options.delimiter ?? "\n" }));
    parser.on("data", (raw: string) => this.receive(raw.replace(/\r$/, "")));
    // Always listened to: an unhandled 'error' would take the whole worker down with this device.
    port.on("error", (error: Error) => this.gone(error));
    port.on("close", (error: (Error & { disconnected?: boolean }) | null) => {
      if (error?.disconnected) this.gone(error);
    });
    this.port = port;
    // The heartbeat: a device file that is gone (a USB adapter pulled, a pty's other end closed)
    // is a disconnect, even when the binding's poller never says so (bindings-cpp #162).
    if (!this.options.binding) {
      this.watch = setInterval(() => {
        if (!existsSync(path)) this.gone(new Error(`${path} is gone`));
      }, pathWatchMs);
    }
  }

  exchange(line: string, collect: LineCollector, options: ExchangeOptions): Promise<string[]> {
    const run = this.turn.then(() => this.exchangeNow(line, collect, options));
    this.turn = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async writeRealtime(bytes: Buffer | string): Promise<void> {
    await this.write(bytes);
  }

  /**
   * Sends `bytes` at once and resolves with the first unsolicited line that `pick` makes something
   * of (it returns undefined for the others, and may throw a DeviceError, e.g. an alarm instead of
   * a report). A device that answers out of turn cannot answer once its port is gone, so a
   * disconnect rejects at once with DEVICE_DISCONNECTED: waiting for the timeout would report a
   * vanished device as a slow one (DEVICE_TIMEOUT).
   */
  ask<T>(bytes: Buffer | string, pick: (line: string) => T | undefined, options: AskOptions): Promise<T> {
    const { deviceId } = this.options;
    return new Promise<T>((resolve, reject) => {
      const finish = (error: Error | undefined, answer?: T) => {
        clearTimeout(timer);
        this.off("unsolicited", onLine);
        this.off("disconnect", onGone);
        if (error) reject(error);
        else resolve(answer as T);
      };
      const onLine = (line: string) => {
        try {
          const answer = pick(line);
          if (answer !== undefined) finish(undefined, answer);
        } catch (error) {
          finish(
            error instanceof DeviceError ? error : new DeviceError("DEVICE_ERROR", String(error), false),
          );
        }
      };
      const onGone = (error: Error) => finish(disconnected(deviceId, error.message));
      const timer = setTimeout(
        () => finish(new DeviceError("DEVICE_TIMEOUT", `${deviceId}: ${options.timeoutMessage}`, true)),
        options.timeoutMs,
      );
      this.on("unsolicited", onLine);
      this.on("disconnect", onGone);
      this.write(bytes).catch((error: unknown) => finish(error as DeviceError));
    });
  }

  async close(): Promise<void> {
    clearInterval(this.watch);
    const port = this.port;
    this.port = undefined;
    if (!port?.isOpen) return;
    await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  private async exchangeNow(
    line: string,
    collect: LineCollector,
    options: ExchangeOptions,
  ): Promise<string[]> {
    const { deviceId } = this.options;
    if (!this.isOpen) throw disconnected(deviceId, "the port is not open");
    if (options.signal?.aborted)
      throw new DeviceError("CANCELLED", `${deviceId}: cancelled before '${line}'`, false);
    return new Promise<string[]>((resolve, reject) => {
      const lines: string[] = [];
      const finish = (error?: DeviceError) => {
        clearTimeout(timer);
        options.signal?.removeEventListener("abort", onAbort);
        this.collector = undefined;
        this.onGone = undefined;
        if (error) reject(error);
        else resolve(lines);
      };
      const timer = setTimeout(
        () =>
          finish(
            new DeviceError(
              "DEVICE_TIMEOUT",
              `${deviceId}: no answer to '${line}' within ${options.timeoutMs} ms`,
              true,
            ),
          ),
        options.timeoutMs,
      );
      const onAbort = () =>
        finish(new DeviceError("CANCELLED", `${deviceId}: '${line}' was cancelled`, false));
      options.signal?.addEventListener("abort", onAbort, { once: true });
      this.onGone = finish;
      this.collector = (incoming) => {
        lines.push(incoming);
        try {
          if (collect(incoming) === "done") finish();
        } catch (error) {
          finish(
            error instanceof DeviceError ? error : new DeviceError("DEVICE_ERROR", String(error), false),
          );
        }
      };
      this.write(`${line}\n`).catch((error: unknown) =>
        finish(disconnected(deviceId, (error as Error).message)),
      );
    });
  }

  private receive(line: string): void {
    if (this.collector) this.collector(line);
    else this.emit("unsolicited", line);
  }

  private gone(error: Error): void {
    clearInterval(this.watch);
    const port = this.port;
    if (!port) return;
    this.port = undefined;
    if (port.isOpen) port.close(() => undefined); // frees the fd (and the lock) for a reconnect
    this.onGone?.(disconnected(this.options.deviceId, error.message));
    this.emit("disconnect", error);
  }

  /** A failed write is a disconnect too: after an unplug, a write may fail (EIO) before any read does. */
  private write(bytes: Buffer | string): Promise<void> {
    const port = this.port;
    if (!port?.isOpen) return Promise.reject(disconnected(this.options.deviceId, "the port is not open"));
    return new Promise((resolve, reject) => {
      const fail = (error: Error) => {
        this.gone(error);
        reject(disconnected(this.options.deviceId, error.message));
      };
      port.write(bytes, (error) =>
        error ? fail(error) : port.drain((drainError) => (drainError ? fail(drainError) : resolve())),
      );
    });
  }

  private openError(error: Error): DeviceError {
    const { deviceId, path } = this.options;
    return new DeviceError(
      "DEVICE_DISCONNECTED",
      `${deviceId}: cannot open ${path}: ${error.message}`,
      true,
      { path },
    );
  }
}

/** How often the port's device file is looked for (see the heartbeat in open). */
const pathWatchMs = 200;

const disconnected = (deviceId: string, why: string) =>
  new DeviceError("DEVICE_DISCONNECTED", `${deviceId}: the device is disconnected (${why})`, true);
