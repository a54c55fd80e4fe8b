// A Marlin 2.x firmware on the device end of a pty pair (see pty-pair.ts), for driver tests. What it
// simulates, in short:
// - lines end with "\n" ("\r\n" and "\r" too); numbered lines (`N<n> <gcode>*<cs>`) are checked as
//   Marlin checks them: the number must be the last one + 1 (M110 excepted), the checksum the XOR of
//   the bytes before '*'; a bad one is answered `Error:...Last Line: <n>`, `Resend: <n+1>`, `ok`.
//   Unnumbered lines without a checksum are taken as they are;
// - M110 (N), G90, G91, G0/G1 (X Y Z F; `ok` at once = queued, the motion takes `motionMs`), G28
//   (`homingMs`), M400 (ok when motion is done), M114, M410 (quickstop, also handled the moment it
//   arrives, as Marlin's emergency parser does); G28 and M400 send `echo:busy: processing` every
//   `busyIntervalMs` while they block; anything else is `echo:Unknown command: "<cmd>"`, then `ok`.
// Not simulated: temperatures, extrusion (E stays 0), the SD card, planner limits, M999.
import { SerialPort } from "serialport";

export interface MarlinSimulatorOptions {
  /** How long G28 takes, in ms. Default 100. */
  homingMs?: number;
  /** How long each G0/G1 move takes, in ms. Default 200. */
  motionMs?: number;
  /** How often `echo:busy: processing` is sent while G28 or M400 blocks, in ms. Default 100. */
  busyIntervalMs?: number;
  /** Commands this firmware build lacks (e.g. "M400"): answered as unknown. */
  unsupported?: string[];
  /** How often simulated time moves on, in ms. Default 5. */
  tickMs?: number;
}

export interface ReceivedLine {
  /** The raw line as received, line number and checksum included. */
  line: string;
  at: number;
}

export interface SentText {
  text: string;
  at: number;
}

export interface Position {
  x: number;
  y: number;
  z: number;
}

interface Move {
  from: Position;
  to: Position;
  start: number;
  end: number;
}

type Blocked = { kind: "G28"; until: number; nextBusy: number } | { kind: "M400"; nextBusy: number };

const stepsPerMm = { x: 80, y: 80, z: 400 };
const origin: Position = { x: 0, y: 0, z: 0 };

/** Marlin's checksum: the XOR of every byte before the '*'. */
export function marlinChecksum(text: string): number {
  let cs = 0;
  for (const byte of Buffer.from(text, "latin1")) cs ^= byte;
  return cs;
}

export class MarlinSimulator {
  /** Opens `devicePath` (the pty pair's device end) and boots the firmware. */
  static async start(devicePath: string, options: MarlinSimulatorOptions = {}): Promise<MarlinSimulator> {
    const port = new SerialPort({ path: devicePath, baudRate: 115200, autoOpen: false });
    const simulator = new MarlinSimulator(port, options);
    try {
      await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    } catch (error) {
      await simulator.close();
      throw error;
    }
    // Lost when the host opens (open flushes), as a real banner is.
    simulator.write("start\necho:Marlin 2.1.2.4 (simulated)\n", false);
    return simulator;
  }

  /** Every line received, raw, with the time its end arrived. */
  readonly commands: ReceivedLine[] = [];
  /** Everything written to the host, with times. */
  readonly sent: SentText[] = [];
  /** The last error the port reported (a write after an unplug, for instance). */
  lastError: Error | undefined;

  private readonly homingMs: number;
  private readonly motionMs: number;
  private readonly busyIntervalMs: number;
  private readonly unsupported: Set<string>;
  private readonly timer: NodeJS.Timeout;
  private received = "";
  private readonly pending: string[] = [];
  private lastN = 0;
  private corrupt = false;
  private silent = false;
  private halted = false;
  private relative = false;
  private isHomed = false;
  /** Where the steppers were when the last move in `moves` ended (or now, if none). */
  private actual: Position = { ...origin };
  /** Marlin's current_position: where the last queued move goes. M114 reports it. */
  private current: Position = { ...origin };
  private moves: Move[] = [];
  private blocked: Blocked | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly port: SerialPort,
    options: MarlinSimulatorOptions,
  ) {
    this.homingMs = options.homingMs ?? 100;
    this.motionMs = options.motionMs ?? 200;
    this.busyIntervalMs = options.busyIntervalMs ?? 100;
    this.unsupported = new Set((options.unsupported ?? []).map((code) => code.toUpperCase()));
    // Listeners first: an unplugged pty must never crash the test process.
    port.on("error", (error) => (this.lastError = error));
    port.on("close", () => clearInterval(this.timer));
    port.on("data", (chunk: Buffer) => this.receive(chunk.toString("latin1")));
    this.timer = setInterval(() => this.tick(), options.tickMs ?? 5);
    this.timer.unref();
  }

  /** Where the steppers are now, in mm. */
  get position(): Position {
    return this.positionAt(performance.now());
  }

  /** Whether a move is under way or queued. */
  get moving(): boolean {
    this.settle(performance.now());
    return this.moves.length > 0;
  }

  get homed(): boolean {
    return this.isHomed;
  }

  /** The last line number accepted. */
  get lastLineNumber(): number {
    return this.lastN;
  }

  get isOpen(): boolean {
    return this.port.isOpen;
  }

  /** The next line received with a checksum is taken as corrupted: the resend path. */
  corruptNext(): void {
    this.corrupt = true;
  }

  /** kill(): says `Error:Printer halted. kill() called!`, stops, and answers nothing any more. */
  halt(): void {
    this.quickstop(performance.now());
    this.blocked = undefined;
    this.pending.length = 0;
    this.isHomed = false;
    this.write("Error:Printer halted. kill() called!\n", true);
    this.halted = true;
  }

  /** While on, the firmware neither reads nor answers anything (bytes received are lost). */
  silence(on: boolean): void {
    this.silent = on;
  }

  /** Sends raw text to the host, even while silenced. */
  send(text: string): void {
    this.write(text, true);
  }

  /** Closes the port; resolves also when the pty is already gone. Never throws. */
  close(): Promise<void> {
    clearInterval(this.timer);
    this.closing ??= new Promise<void>((resolve) => {
      try {
        if (!this.port.isOpen) return resolve();
        this.port.close(() => resolve());
      } catch {
        resolve();
      }
    });
    return this.closing;
  }

  private receive(text: string): void {
    if (this.silent || this.halted) return;
    const now = performance.now();
    this.received += text;
    const parts = this.received.split(/\r\n|\r|\n/);
    this.received = parts.pop() ?? "";
    for (const raw of parts) {
      const line = raw.trim();
      if (line === "") continue;
      this.commands.push({ line, at: performance.timeOrigin + now });
      // The emergency parser: M410 acts the moment it arrives, past anything queued or blocking.
      if (/^(?:N\d+\s*)?M410\b/i.test(line)) this.emergencyStop(now);
      this.pending.push(line);
    }
    this.pump(now);
  }

  private pump(now: number): void {
    while (!this.blocked && !this.halted && this.pending.length > 0) {
      this.process(this.pending.shift() as string, now);
    }
  }

  private process(raw: string, now: number): void {
    let command = raw;
    const numberedLine = /^N(-?\d+)\s*(.*)$/i.exec(raw);
    const star = raw.lastIndexOf("*");
    if (numberedLine) {
      const n = Number(numberedLine[1]);
      const body = numberedLine[2] ?? "";
      if (n !== this.lastN + 1 && !/^M110\b/i.test(body)) {
        return this.lineError(`Line Number is not Last Line Number+1, Last Line: ${this.lastN}`);
      }
      if (star === -1) return this.lineError(`No Checksum with line number, Last Line: ${this.lastN}`);
      const corrupted = this.corrupt;
      this.corrupt = false;
      if (corrupted || marlinChecksum(raw.slice(0, star)) !== Number(raw.slice(star + 1).trim())) {
        return this.lineError(`checksum mismatch, Last Line: ${this.lastN}`);
      }
      this.lastN = n;
      command = body.slice(0, body.lastIndexOf("*")).trim();
    } else if (star !== -1) {
      return this.lineError(`No Line Number with checksum, Last Line: ${this.lastN}`);
    }
    this.run(command, now);
  }

  private lineError(message: string): void {
    this.write(`Error:${message}\nResend: ${this.lastN + 1}\nok\n`);
  }

  private run(command: string, now: number): void {
    const [first = "", ...rest] = command.split(/\s+/);
    const head = /^([GMT])(\d+)$/i.exec(first);
    const code = head ? `${(head[1] ?? "").toUpperCase()}${Number(head[2])}` : first.toUpperCase();
    const words = new Map<string, number>();
    for (const word of rest) {
      const match = /^([A-Z])(-?\d*\.?\d+)$/i.exec(word);
      if (match) words.set((match[1] ?? "").toUpperCase(), Number(match[2]));
    }
    if (command === "") return this.ok();
    if (this.unsupported.has(code)) return this.unknown(command);
    switch (code) {
      case "M110": {
        const n = words.get("N");
        if (n !== undefined) this.lastN = n;
        return this.ok();
      }
      case "G90":
      case "G91":
        this.relative = code === "G91";
        return this.ok();
      case "G0":
      case "G1":
        this.queueMove(words, now);
        return this.ok();
      case "G28":
        this.isHomed = false;
        this.blocked = {
          kind: "G28",
          until: Math.max(now, this.moves.at(-1)?.end ?? now) + this.homingMs,
          nextBusy: now + this.busyIntervalMs,
        };
        return;
      case "M400":
        this.settle(now);
        if (this.moves.length === 0) return this.ok();
        this.blocked = { kind: "M400", nextBusy: now + this.busyIntervalMs };
        return;
      case "M114": {
        const at = this.positionAt(now);
        const { x, y, z } = this.current;
        const count = (axis: keyof Position) => Math.round(at[axis] * stepsPerMm[axis]);
        this.write(
          `X:${x.toFixed(2)} Y:${y.toFixed(2)} Z:${z.toFixed(2)} E:0.00 Count X:${count("x")} Y:${count("y")} Z:${count("z")}\n`,
        );
        return this.ok();
      }
      case "M410":
        this.quickstop(now);
        return this.ok();
      default:
        return this.unknown(command);
    }
  }

  private queueMove(words: Map<string, number>, now: number): void {
    const to = { ...this.current };
    for (const axis of ["x", "y", "z"] as const) {
      const value = words.get(axis.toUpperCase());
      if (value !== undefined) to[axis] = this.relative ? to[axis] + value : value;
    }
    this.settle(now);
    const start = Math.max(now, this.moves.at(-1)?.end ?? now);
    this.moves.push({ from: { ...this.current }, to, start, end: start + this.motionMs });
    this.current = to;
  }

  private tick(): void {
    const now = performance.now();
    this.settle(now);
    const blocked = this.blocked;
    if (!blocked || this.silent || this.halted) return;
    const finished = blocked.kind === "G28" ? now >= blocked.until : this.moves.length === 0;
    if (finished) {
      if (blocked.kind === "G28") {
        this.actual = { ...origin };
        this.current = { ...origin };
        this.isHomed = true;
      }
      this.blocked = undefined;
      this.ok();
      this.pump(now);
    } else if (now >= blocked.nextBusy) {
      this.write("echo:busy: processing\n");
      blocked.nextBusy = now + this.busyIntervalMs;
    }
  }

  /** M410 from the emergency parser: motion stops, a blocked G28 or M400 ends (with its ok). */
  private emergencyStop(now: number): void {
    this.quickstop(now);
    if (this.blocked) {
      this.blocked = undefined;
      this.ok();
    }
  }

  /** Stops now, keeping the position reached; M114 then reports it. */
  private quickstop(now: number): void {
    const at = this.positionAt(now);
    this.moves = [];
    this.actual = at;
    this.current = { ...at };
  }

  private settle(now: number): void {
    while (this.moves[0] && this.moves[0].end <= now) this.actual = (this.moves.shift() as Move).to;
  }

  private positionAt(now: number): Position {
    this.settle(now);
    const move = this.moves[0];
    if (!move || now <= move.start) return { ...this.actual };
    const f = (now - move.start) / (move.end - move.start);
    const along = (axis: keyof Position) => move.from[axis] + (move.to[axis] - move.from[axis]) * f;
    return { x: along("x"), y: along("y"), z: along("z") };
  }

  private ok(): void {
    this.write("ok\n");
  }

  private unknown(command: string): void {
    this.write(`echo:Unknown command: "${command}"\nok\n`);
  }

  private write(text: string, evenIfSilent = false): void {
    if ((this.silent && !evenIfSilent) || (this.halted && !evenIfSilent) || !this.port.isOpen) return;
    this.sent.push({ text, at: performance.timeOrigin + performance.now() });
    this.port.write(text, (error) => {
      if (error) this.lastError = error;
    });
  }
}

/** Shorthand for `MarlinSimulator.start`. */
export const startMarlinSimulator = (devicePath: string, options?: MarlinSimulatorOptions) =>
  MarlinSimulator.start(devicePath, options);
