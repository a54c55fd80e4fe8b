// A Marlin 2.x firmware on the device end of a pty pair (see pty-pair.ts), for driver tests. What it
// simulates, in short:
// - the serial input as Marlin reads it (marlin-serial-input.ts): numbered lines checked (number,
//   checksum), a refused line answered `Error:...Last Line: <n>`, `Resend: <n+1>`, `ok` with the
//   bytes received so far dropped, a repeated line refused (never run twice), unnumbered lines taken
//   as they are; lines read into a 4-line command buffer even while G28 or M400 blocks;
// - M110 (N), G90, G91, G0/G1 (X Y Z F; `ok` at once = queued, the motion takes `motionMs`), G28
//   (`homingMs`), M400 (ok when motion is done), M114, M105 (`ok T:...`), M410 (quickstop, also
//   handled the moment it arrives, as Marlin's emergency parser does); G28 and M400 send
//   `echo:busy: processing` every `busyIntervalMs` while they block; anything else is
//   `echo:Unknown command: "<cmd>"`, then `ok`;
// - line noise (line-noise.ts): garbled lines, seeded, in either direction, or placed by a test.
// Every command run is journaled (`executed`), so a test can count how often a move ran.
// Not simulated: temperatures (M105 answers fixed ones), extrusion (E stays 0), the SD card, M999.
import { SerialPort } from "serialport";
import { LineNoise, type Fault } from "./line-noise.js";
import { MarlinMotion, type Position } from "./marlin-motion.js";
import { checksum, MarlinSerialInput, parseCommand, type ReadCommand } from "./marlin-serial-input.js";

export type { Position } from "./marlin-motion.js";
export type { Fault } from "./line-noise.js";

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
  /** The chance that a line is garbled (one bit of one byte) on its way to the firmware, to the host. */
  noise?: { seed: number; toFirmware?: number; toHost?: number };
}

export interface ReceivedLine {
  /** The raw line as received (after any noise), line number and checksum included. */
  line: string;
  at: number;
}

export interface SentText {
  /** What the firmware sent. */
  text: string;
  /** What reached the host, when noise garbled it. */
  garbled?: string;
  at: number;
}

export interface ExecutedCommand {
  /** Its line number, when it came numbered. */
  n: number | undefined;
  /** As Marlin's parser saw it: no line number, no checksum. */
  command: string;
  at: number;
}

type Blocked = { kind: "G28"; until: number; nextBusy: number } | { kind: "M400"; nextBusy: number };

/** BUFSIZE: the commands Marlin holds read but not yet run. */
const bufferSize = 4;

/** Marlin's checksum: the XOR of every byte before the '*'. */
export const marlinChecksum = checksum;

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
  /** Every command run, in order. */
  readonly executed: ExecutedCommand[] = [];
  /** Each M410 the emergency parser acted on, as it arrived (garbled or not), with its time. */
  readonly emergencyStops: ReceivedLine[] = [];
  /** The last error the port reported (a write after an unplug, for instance). */
  lastError: Error | undefined;
  /** Noise on the lines from the host, and on the lines to it. */
  readonly toFirmware: LineNoise;
  readonly toHost: LineNoise;

  private readonly homingMs: number;
  private readonly busyIntervalMs: number;
  private readonly unsupported: Set<string>;
  private readonly timer: NodeJS.Timeout;
  private readonly input: MarlinSerialInput;
  private readonly motion: MarlinMotion;
  private readonly seed: number | undefined;
  /** Bytes from the host up to its next newline: noise garbles whole lines. */
  private inbound = "";
  /** Bytes past the noise up to the next end of line, for `commands` and the emergency parser. */
  private arriving = "";
  /** Read, checked, not yet run. */
  private readonly queue: ReadCommand[] = [];
  private silent = false;
  private halted = false;
  private isHomed = false;
  private blocked: Blocked | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly port: SerialPort,
    options: MarlinSimulatorOptions,
  ) {
    this.homingMs = options.homingMs ?? 100;
    this.busyIntervalMs = options.busyIntervalMs ?? 100;
    this.unsupported = new Set((options.unsupported ?? []).map((code) => code.toUpperCase()));
    this.motion = new MarlinMotion(options.motionMs ?? 200);
    this.input = new MarlinSerialInput((text) => this.write(text));
    const { noise } = options;
    this.seed = noise?.seed;
    this.toFirmware = new LineNoise(
      "host->firmware",
      noise && { seed: noise.seed, probability: noise.toFirmware ?? 0 },
    );
    this.toHost = new LineNoise(
      "firmware->host",
      noise && { seed: noise.seed + 1, probability: noise.toHost ?? 0 },
    );
    // Listeners first: an unplugged pty must never crash the test process.
    port.on("error", (error) => (this.lastError = error));
    port.on("close", () => clearInterval(this.timer));
    port.on("data", (chunk: Buffer) => this.receive(chunk.toString("latin1")));
    this.timer = setInterval(() => this.tick(), options.tickMs ?? 5);
    this.timer.unref();
  }

  /** Where the steppers are now, in mm. */
  get position(): Position {
    return this.motion.positionAt(performance.now());
  }

  /** Whether a move is under way or queued. */
  get moving(): boolean {
    return this.motion.movingAt(performance.now());
  }

  get homed(): boolean {
    return this.isHomed;
  }

  /** The last line number accepted. */
  get lastLineNumber(): number {
    return this.input.lastN;
  }

  get isOpen(): boolean {
    return this.port.isOpen;
  }

  /** The next line received with a checksum is taken as corrupted: the resend path. */
  corruptNext(): void {
    this.input.failNextChecksum = true;
  }

  /** Garbles the next line from the host that matches, once. */
  garbleFromHost(fault: Fault): void {
    this.toFirmware.add(fault);
  }

  /** Garbles the next line to the host that matches, once. */
  garbleToHost(fault: Fault): void {
    this.toHost.add(fault);
  }

  /** The seed and every garbled line, for a failure message. */
  noiseReport(): string {
    return [`noise seed ${this.seed ?? "(none)"}`, this.toFirmware.describe(), this.toHost.describe()].join(
      "\n",
    );
  }

  /** kill(): says `Error:Printer halted. kill() called!`, stops, and answers nothing any more. */
  halt(): void {
    this.motion.quickstop(performance.now());
    this.blocked = undefined;
    this.queue.length = 0;
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
    this.inbound += text;
    for (let end = this.inbound.indexOf("\n"); end !== -1; end = this.inbound.indexOf("\n")) {
      const line = this.inbound.slice(0, end + 1);
      this.inbound = this.inbound.slice(end + 1);
      this.arrive(this.toFirmware.pass(line), now);
    }
    this.pump(now);
  }

  /** Bytes past the noise: journaled, seen by the emergency parser, and read by the firmware. */
  private arrive(bytes: string, now: number): void {
    for (const c of bytes) {
      if (c !== "\n" && c !== "\r") {
        this.arriving += c;
        continue;
      }
      const line = this.arriving.trim();
      this.arriving = "";
      if (line === "") continue;
      this.commands.push({ line, at: performance.timeOrigin + now });
      // The emergency parser: M410 acts the moment it arrives, past anything queued or blocking.
      if (/^(?:N\d+\s*)?M410\b/.test(line)) {
        this.emergencyStops.push({ line, at: performance.timeOrigin + now });
        this.emergencyStop(now);
      }
    }
    this.input.receive(bytes);
  }

  /** Reads what fits in the command buffer (even while blocked, as Marlin's idle() does), runs what it can. */
  private pump(now: number): void {
    for (;;) {
      if (this.halted) return;
      this.queue.push(...this.input.read(bufferSize - this.queue.length));
      const next = this.blocked ? undefined : this.queue.shift();
      if (!next) return;
      this.execute(next, now);
    }
  }

  private execute({ line, n }: ReadCommand, now: number): void {
    const { text, code } = parseCommand(line);
    if (code === undefined || this.unsupported.has(code)) return this.unknown(text);
    const words = new Map<string, number>();
    for (const word of text.split(/\s+/).slice(1)) {
      const match = /^([A-Z])(-?\d*\.?\d+)$/i.exec(word);
      if (match) words.set((match[1] ?? "").toUpperCase(), Number(match[2]));
    }
    if (!this.run(code, words, now)) return this.unknown(text);
    this.executed.push({ n, command: text, at: performance.timeOrigin + now });
  }

  /** Runs a command; false when this firmware does not know it. */
  private run(code: string, words: Map<string, number>, now: number): boolean {
    switch (code) {
      case "M110": {
        const n = words.get("N");
        if (n !== undefined) this.input.lastN = n;
        break;
      }
      case "G90":
      case "G91":
        this.motion.relative = code === "G91";
        break;
      case "G0":
      case "G1":
        this.motion.queue(words, now);
        break;
      case "G28":
        this.isHomed = false;
        this.blocked = {
          kind: "G28",
          until: this.motion.idleAt(now) + this.homingMs,
          nextBusy: now + this.busyIntervalMs,
        };
        return true;
      case "M400":
        if (this.motion.movingAt(now)) {
          this.blocked = { kind: "M400", nextBusy: now + this.busyIntervalMs };
          return true;
        }
        break;
      case "M114":
        this.write(`${this.motion.report(now)}\n`);
        break;
      case "M105":
        // M105 answers `ok` itself, with the temperatures on the same line.
        this.write("ok T:21.50 /0.00 B:21.20 /0.00 @:0 B@:0\n");
        return true;
      case "M410":
        this.motion.quickstop(now);
        break;
      default:
        return false;
    }
    this.write("ok\n");
    return true;
  }

  private tick(): void {
    const now = performance.now();
    const blocked = this.blocked;
    if (!blocked || this.silent || this.halted) return;
    const finished = blocked.kind === "G28" ? now >= blocked.until : !this.motion.movingAt(now);
    if (finished) {
      if (blocked.kind === "G28") {
        this.motion.homed();
        this.isHomed = true;
      }
      this.blocked = undefined;
      this.write("ok\n");
      this.pump(now);
    } else if (now >= blocked.nextBusy) {
      this.write("echo:busy: processing\n");
      blocked.nextBusy = now + this.busyIntervalMs;
    }
  }

  /** M410 from the emergency parser: motion stops, a blocked G28 or M400 ends (with its ok). */
  private emergencyStop(now: number): void {
    this.motion.quickstop(now);
    if (this.blocked) {
      this.blocked = undefined;
      this.write("ok\n");
    }
  }

  private unknown(command: string): void {
    this.write(`echo:Unknown command: "${command}"\nok\n`);
  }

  private write(text: string, evenIfSilent = false): void {
    if ((this.silent && !evenIfSilent) || (this.halted && !evenIfSilent) || !this.port.isOpen) return;
    const garbled = text.replace(/[^\n]*\n|[^\n]+$/g, (line) => this.toHost.pass(line));
    this.sent.push({
      text,
      ...(garbled !== text && { garbled }),
      at: performance.timeOrigin + performance.now(),
    });
    this.port.write(Buffer.from(garbled, "latin1"), (error) => {
      if (error) this.lastError = error;
    });
  }
}

/** Shorthand for `MarlinSimulator.start`. */
export const startMarlinSimulator = (devicePath: string, options?: MarlinSimulatorOptions) =>
  MarlinSimulator.start(devicePath, options);
