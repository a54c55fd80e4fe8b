import { DeviceError } from "../device-error.js";
import type { SerialLines } from "../serial/serial-lines.js";
import { Delivery, promptGcode, type DeliveryLink } from "./marlin-delivery.js";
import { numbered } from "./marlin-lines.js";

/** Sends of one line, the first included, before a noisy line is given up on. */
export const maxTries = 12;
/** Prompts in a row that draw nothing at all before the driver stops prompting. */
const maxUnanswered = 3;
/** Lines remembered for `Resend:`; prompts take numbers too. */
const historySize = 64;

/** What Marlin answered a line, until its `ok`; `sends` above 1 means the line was sent again. */
export interface Sent {
  answer: string[];
  sends: number;
}

export interface LinkSendOptions {
  /** The longest the line may take in all. */
  timeoutMs: number;
  /** The longest Marlin may say nothing at all (busy messages count as something). */
  silenceMs: number;
  /** How long a silence lasts before the driver acts on it (sends again, or prompts). */
  promptMs: number;
  signal: AbortSignal;
}

/**
 * Marlin's numbered lines over a {@link SerialLines}: each line is sent as `N<n> <gcode>*<cs>` and
 * its `ok` awaited, with the recovery a {@link Delivery} describes. One line at a time.
 */
export class MarlinLink {
  private next = 0;
  private readonly history = new Map<number, string>();

  constructor(
    private readonly lines: SerialLines,
    private readonly deviceId: string,
  ) {}

  /**
   * `N0 M110 N0`, sent until Marlin takes it: the numbering starts again and the next line is 1.
   * Marlin takes M110 whatever number it expected, so a refusal or a silence just means again.
   */
  async resync(options: LinkSendOptions): Promise<void> {
    this.next = 0;
    this.history.clear();
    await this.deliver("M110 N0", options, true);
    // Never sent again for a `Resend: 0`, however garbled: M110 would reset Marlin's numbering and
    // let it take lines it has already run.
    this.history.delete(0);
  }

  /** Sends one numbered line and resolves with what Marlin answered until its `ok`. */
  send(gcode: string, options: LinkSendOptions): Promise<Sent> {
    return this.deliver(gcode, options, false);
  }

  private remember(gcode: string): number {
    const n = this.next;
    this.next += 1;
    this.history.set(n, gcode);
    this.history.delete(n - historySize);
    return n;
  }

  private async deliver(gcode: string, options: LinkSendOptions, resync: boolean): Promise<Sent> {
    const { timeoutMs, silenceMs, promptMs, signal } = options;
    if (signal.aborted) {
      throw new DeviceError("CANCELLED", `${this.deviceId}: cancelled before '${gcode}'`, false);
    }
    const n = this.remember(gcode);
    let last = n;
    const stop = new AbortController();
    let outcome: { done: true } | { error: unknown } | undefined;
    let silent = false;
    let promptTimer: NodeJS.Timeout | undefined;
    let silenceTimer: NodeJS.Timeout | undefined;
    const end = (result: { done: true } | { error: unknown }) => {
      outcome ??= result;
      stop.abort();
    };
    const armPrompt = () => {
      clearTimeout(promptTimer);
      promptTimer = setTimeout(() => {
        try {
          if (delivery.silence()) return end({ done: true });
          armPrompt();
        } catch (error) {
          end({ error });
        }
      }, promptMs);
    };
    const heard = () => {
      armPrompt();
      clearTimeout(silenceTimer);
      silenceTimer = setTimeout(() => {
        silent = true;
        stop.abort();
      }, silenceMs);
    };
    const write = (k: number) => {
      const text = this.history.get(k);
      // A failed write is a disconnect, which ends the exchange by itself.
      if (text !== undefined) void this.lines.writeRealtime(`${numbered(k, text)}\n`).catch(() => undefined);
      armPrompt();
    };
    const link: DeliveryLink = {
      deviceId: this.deviceId,
      text: (k) => this.history.get(k),
      get lastSent() {
        return last;
      },
      transmit: write,
      prompt: () => {
        last = this.remember(promptGcode);
        write(last);
        return last;
      },
    };
    const delivery = new Delivery(link, n, { maxTries, maxUnanswered, resync });
    const onAbort = () => stop.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    heard();
    try {
      await this.lines.exchange(
        numbered(n, gcode),
        (line) => {
          heard();
          return delivery.receive(line) ? "done" : "more";
        },
        { timeoutMs, signal: stop.signal },
      );
      return { answer: delivery.answer, sends: delivery.sends };
    } catch (error) {
      if (outcome && "done" in outcome) return { answer: delivery.answer, sends: delivery.sends };
      if (outcome) throw outcome.error;
      if (error instanceof DeviceError && error.code === "CANCELLED") {
        if (signal.aborted) {
          throw new DeviceError("CANCELLED", `${this.deviceId}: '${gcode}' was cancelled`, false, {
            inFlight: true,
          });
        }
        if (silent) {
          throw new DeviceError(
            "DEVICE_TIMEOUT",
            `${this.deviceId}: Marlin said nothing for ${silenceMs} ms after '${gcode}'`,
            true,
          );
        }
      }
      throw error;
    } finally {
      clearTimeout(promptTimer);
      clearTimeout(silenceTimer);
      signal.removeEventListener("abort", onAbort);
    }
  }
}
