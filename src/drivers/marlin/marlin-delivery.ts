import { DeviceError } from "../device-error.js";
import { classify, near, splitGarbled } from "./marlin-replies.js";

/** The G-code of the driver's prompt: harmless, and answered `ok T:...` in one line. */
export const promptGcode = "M105";

/** What a delivery needs from the link it runs on. */
export interface DeliveryLink {
  readonly deviceId: string;
  /** The G-code sent as line `n`, while it is remembered. */
  text(n: number): string | undefined;
  /** The highest line number sent so far. */
  readonly lastSent: number;
  /** Sends line `n` again, as it was. */
  transmit(n: number): void;
  /** Numbers and sends a new prompt; returns its number. */
  prompt(): number;
}

export interface DeliveryOptions {
  /** Sends in all (the first included) before giving up on a noisy line. */
  maxTries: number;
  /** Prompts in a row that draw no line at all before prompting stops (only the silence limit is left). */
  maxUnanswered: number;
  /** M110: Marlin takes it whatever the line number, so anything but its `ok` means "send it again". */
  resync?: boolean;
}

/**
 * What the `ok` that Marlin sends next will close: a refusal (a resend request), an unknown
 * command (ours garbled, ours unknown, or someone else's), or, with none of these, a line done.
 */
type Pending = "resend" | "garbled" | "refused" | "foreign";

/**
 * One numbered line on its way to Marlin, and the answers read until it is done. Marlin numbers
 * what it takes: a line whose number is not the last one + 1 is refused (`Resend:`), never run, so
 * sending a line again is always safe, and is what recovers from any garbled byte:
 * - a refused line (bad checksum, bad number, a garbled newline joining it to the next line) is
 *   sent again from the number Marlin asks for;
 * - a line whose `N` was garbled is not numbered, and Marlin answers `Unknown command: "<it>"`:
 *   recognised as ours, it is sent again;
 * - on silence (a line still waiting for its newline, an `ok` lost) the driver prompts with a new
 *   numbered M105: if Marlin has our line, it runs M105 after it and answers `ok T:...`, which
 *   says our line is done; if not, the prompt is refused and the resend request names our line.
 * Every send but the first counts as a try; past `maxTries` it fails with DEVICE_ERROR.
 */
export class Delivery {
  /** What Marlin said, cut where a garbled newline joined two lines. */
  readonly answer: string[] = [];
  private tries = 1;
  /** The line whose `ok` is awaited: below `n` while lines Marlin lost are sent again in order. */
  private cursor: number;
  private readonly prompts = new Set<number>();
  private pending: Pending | undefined;
  private quote = "";
  private askedByResend: number | undefined;
  private askedByError: number | undefined;
  /** The line number below the cursor that the last refusal asked for. */
  private askedBefore: number | undefined;
  /** Line `n` is done; what is left is the answer to a prompt, if one is out. */
  private finished = false;
  private settled = false;
  private unanswered = 0;
  private lastWords = "";

  constructor(
    private readonly link: DeliveryLink,
    readonly n: number,
    private readonly options: DeliveryOptions,
  ) {
    this.cursor = n;
  }

  get gcode(): string {
    return this.link.text(this.n) ?? "";
  }

  /** One line from Marlin. True when the delivery is done; throws a DeviceError when it failed. */
  receive(line: string): boolean {
    this.unanswered = 0;
    // A garbled byte that decodes as a control character also splits a line: a framing error cut
    // in two must not leave an `Error:` stub that reads as a fatal error.
    const framing = classify(line).kind === "framing";
    for (const part of splitGarbled(line)) {
      this.answer.push(part);
      this.take(part, framing);
    }
    return this.done;
  }

  /** Sends of this line and its prompts so far, the first included. */
  get sends(): number {
    return this.tries;
  }

  /** Marlin said nothing for a while. True when the delivery is done; throws when it failed. */
  silence(): boolean {
    if (this.finished) return (this.settled = true);
    this.unanswered += 1;
    const pending = this.pending;
    this.pending = undefined;
    // A refusal or an unknown command whose `ok` was lost is acted on as if it had come.
    if (pending === "resend") this.resend();
    else if (pending === "garbled") this.sendAgain(this.cursor);
    else if (pending === "refused") throw this.refused();
    // Prompts that draw nothing at all stop: a device that says nothing is not a noisy line.
    else if (this.unanswered > this.options.maxUnanswered) return false;
    else if (this.options.resync) this.sendAgain(this.n);
    else {
      this.count();
      this.prompts.add(this.link.prompt());
    }
    return false;
  }

  private get done(): boolean {
    return this.finished && (this.prompts.size === 0 || this.settled);
  }

  private take(line: string, framing: boolean): void {
    const classified = classify(line);
    const reply =
      classified.kind === "fatal" && framing ? { kind: "framing" as const, lastLine: undefined } : classified;
    if (reply.kind !== "other" && reply.kind !== "busy") this.lastWords = line;
    switch (reply.kind) {
      case "ok":
        return this.ok();
      case "report-ok":
        return this.reportOk();
      case "framing":
        this.pending = "resend";
        if (reply.lastLine !== undefined) this.askedByError = reply.lastLine + 1;
        return;
      case "resend":
        this.pending = "resend";
        if (reply.line !== undefined) this.askedByResend = reply.line;
        return;
      case "unknown":
        this.quote = reply.quote;
        this.pending = this.whose(reply.quote);
        return;
      case "fatal":
        throw new DeviceError(
          "DEVICE_ERROR",
          `${this.link.deviceId}: '${this.gcode}' failed: Marlin said "${reply.message}"`,
          false,
          { marlin: line, fatal: true },
        );
      default:
        return;
    }
  }

  private ok(): void {
    const pending = this.pending;
    this.pending = undefined;
    // Done already: this answers a prompt (run, refused or garbled), and nothing is sent again.
    if (this.finished) {
      this.settled = true;
      return;
    }
    switch (pending) {
      case "resend":
        return this.resend();
      case "garbled":
        return this.sendAgain(this.cursor);
      case "refused":
        throw this.refused();
      case "foreign":
        return; // the `ok` of a fragment of a split line: nothing of ours ran
      default:
        if (this.cursor < this.n) this.link.transmit((this.cursor += 1));
        else this.finished = true;
    }
  }

  /** M105 ran: every line before it has run too. */
  private reportOk(): void {
    if (this.cursor < this.n && this.link.text(this.cursor) === promptGcode) return this.ok();
    if (this.prompts.size === 0) return; // a late answer to an earlier line's prompt
    this.finished = true;
    this.settled = true;
  }

  /** Who an `Unknown command: "<quote>"` is about. */
  private whose(quote: string): Pending {
    const text = this.link.text(this.cursor) ?? "";
    // What Marlin got was our command as we sent it (but for a letter garbled on the way back).
    if (quote === text || (near(quote, text) && quote[0] === text[0])) return "refused";
    // Our line with its `N` garbled: not numbered, so not checked, and not run.
    if (near(quote, `N${this.cursor} ${text}`, 2)) return "garbled";
    return "foreign";
  }

  /**
   * Marlin refused a line and asked for one (`Error:...Last Line: L`, `Resend: L+1`, `ok`), either
   * number possibly garbled. Marlin has every line below the one it asks for and none from it on.
   */
  private resend(): void {
    const asked = this.asked();
    this.askedByError = this.askedByResend = undefined;
    if (this.options.resync) return this.sendAgain(this.n);
    if (asked <= this.n) {
      this.cursor = asked;
      return this.sendAgain(asked);
    }
    // Marlin has our line. A refused prompt is sent again: its `ok T:` will say our line is done.
    this.cursor = this.n;
    if (asked <= this.link.lastSent) this.sendAgain(asked);
  }

  /**
   * The line Marlin asks for, from `Resend:` and from the error's `Last Line:`, either of which may
   * be garbled. A wrong guess costs a refusal, never a line run twice: lines Marlin has are refused.
   * Numbers from the cursor on are the likely ones (the lowest of them); else the nearest below.
   */
  private asked(): number {
    const sent = (k: number | undefined): k is number =>
      k !== undefined &&
      k <= this.link.lastSent + 1 &&
      (k > this.link.lastSent || this.link.text(k) !== undefined);
    const candidates = [this.askedByResend, this.askedByError].filter(sent);
    const ahead = candidates.filter((k) => k >= this.cursor);
    if (ahead.length > 0) return Math.min(...ahead);
    // Going back is for a line Marlin lost after all; one garbled digit is likelier: believed when
    // both numbers say it, or when Marlin asks for it twice in a row.
    const back = Math.max(...candidates);
    const sure = candidates.length === 2 && candidates[0] === candidates[1];
    const again = back === this.askedBefore;
    this.askedBefore = back;
    return candidates.length > 0 && (sure || again) ? back : this.cursor;
  }

  private sendAgain(k: number): void {
    this.count();
    this.link.transmit(k);
  }

  private count(): void {
    this.tries += 1;
    if (this.tries <= this.options.maxTries) return;
    throw new DeviceError(
      "DEVICE_ERROR",
      `${this.link.deviceId}: line noise: gave up after ${this.options.maxTries} tries to send ` +
        `'${this.gcode}' (line ${this.n}): the serial line is bad` +
        (this.lastWords
          ? ` (Marlin last said: "${printable(this.lastWords)}")`
          : " (Marlin said nothing useful)"),
      true,
      { line: this.n, tries: this.options.maxTries, lineNoise: true },
    );
  }

  private refused(): DeviceError {
    return new DeviceError(
      "DEVICE_ERROR",
      `${this.link.deviceId}: Marlin does not know '${this.gcode}' (it said: Unknown command: "${this.quote}")`,
      false,
      { marlin: `echo:Unknown command: "${this.quote}"` },
    );
  }
}

const printable = (text: string) =>
  text.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`).slice(0, 120);
