import type { z } from "zod";

/**
 * The driver interface. A driver owns one device and knows its protocol; it knows nothing of
 * BullMQ, Redis or HTTP. The same driver code runs on hardware, a pty, or a mock binding.
 *
 * Behaviour every driver keeps:
 * - `execute` runs one function and resolves with that function's outputs once the device reports
 *   the command finished (not merely accepted). It rejects with a {@link DeviceError}.
 * - When `signal` aborts, the driver asks the device to stop and rejects with code `CANCELLED`.
 * - A driver runs at most `capacity` commands at once; the caller (the worker) is responsible for
 *   never asking for more, and a mock driver reports when it is asked anyway.
 * - `close` ends the connection; commands still in flight reject with `DEVICE_DISCONNECTED`.
 */
export interface Driver {
  readonly deviceId: string;
  /**
   * False while the device cannot be reached (a serial driver between a disconnect and its
   * reconnect); drivers with nothing to lose, like the mock servo, leave it undefined.
   */
  readonly connected?: boolean;
  /**
   * What is wrong with the device by its own account, while something is (a GRBL alarm): the
   * device shows `error` with it until it clears. Drivers whose devices report no state leave it
   * undefined.
   */
  readonly fault?: string | undefined;
  open(): Promise<void>;
  execute(functionId: string, params: Record<string, unknown>, context: CommandContext): Promise<Outputs>;
  close(): Promise<void>;
}

export type Outputs = Record<string, unknown>;

export interface CommandContext {
  /** Aborted on cancel or timeout: stop the device and reject with CANCELLED. */
  readonly signal: AbortSignal;
  /** Progress from 0 to 1 with a short human message; cheap to call often. */
  progress(fraction: number, message: string): void;
  /**
   * Whether the caller may act on the device now: false while its hold on the device (its lease) is
   * in doubt, and for good once it may have passed to another process. Synchronous and cheap: a
   * driver that acts on the device in many steps checks it before each one. On false, a function
   * declared `pausable` holds the device where it is and awaits untilMayDrive(); any other stops
   * the device and rejects with CANCELLED. The signal aborts soon after a hold is lost anyway;
   * this closes the gap between the two, when a frozen process wakes up. Absent: always true.
   */
  mayDrive?(): boolean;
  /**
   * After mayDrive() said false: resolves true once the caller may drive again (its hold on the
   * device was confirmed: go on where it paused), false if it never will (stop the device, reject
   * with CANCELLED). Resolves false when the signal aborts. Absent: resolves true at once.
   */
  untilMayDrive?(): Promise<boolean>;
}

/**
 * A function's default retry policy, which a node's `retry` replaces as a whole. Every retry waits
 * `backoffMs` ("fixed", the default), or `backoffMs` doubled after each failed attempt up to
 * `maxBackoffMs` ("exponential"); `jitter` draws each delay between half of it and all of it.
 * Failures the driver marks not retryable (an alarm, bad params) are never retried.
 */
export interface RetryDefaults {
  /** Attempts in all, the first one included. */
  attempts: number;
  backoffMs: number;
  backoff?: "fixed" | "exponential";
  /** Exponential only: the longest delay (default one hour). At least backoffMs. */
  maxBackoffMs?: number;
  jitter?: boolean;
}

/** What a driver function declares about itself: checked before anything is enqueued. */
export interface FunctionSpec {
  id: string;
  description: string;
  /** A plain object schema, without refinements: inputs fed by edges are made optional with partial(). */
  params: z.ZodObject;
  /** The fields of the outputs object, by name, with a word on each. */
  outputs: Record<string, string>;
  /** Safe to run again after an interruption (a home, a status read), unlike a dispense or a cut. */
  idempotent: boolean;
  /**
   * The device can be held mid-command and go on later: the driver checks mayDrive() between its
   * steps and pauses while it is false. A command that cannot pause is stopped instead, when its
   * worker is no longer sure that it may drive the device. Absent: false.
   */
  pausable?: boolean;
  timeoutMs: number;
  retry: RetryDefaults;
}

export interface DeviceConfig {
  id: string;
  driver: string;
  capacity: number;
  path?: string;
  baudRate?: number;
  options: Record<string, unknown>;
}

export interface DriverDefinition {
  name: string;
  description: string;
  functions: readonly FunctionSpec[];
  create(device: DeviceConfig): Driver;
}
