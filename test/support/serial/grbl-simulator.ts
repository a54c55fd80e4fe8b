// A GRBL 1.1 controller on the device end of a pty pair (see pty-pair.ts), for driver tests. The
// protocol lives in grbl-machine.ts (G-code in grbl-gcode.ts); this file owns the real serial port,
// the clock and the fault injection. It was checked against the real GRBL 1.1h (grbl-sim, see
// docs/firmware.md) with its default settings. What it simulates, in short:
// - lines end with "\n" ("\r\n" and "\r" too); each is answered `ok` or `error:N`, a move's `ok`
//   as soon as it is queued (15 planner blocks; when full, the answer waits);
// - `?` status reports `<State|MPos:…|FS:…>`, with `|Pn:` while a pin is active (`activePins`),
//   `|WCO:` on the first report and every 10th (30th while busy), `|Ov:` on the report after
//   (every 10th/20th, and after an override change); none while homing (answered at its end);
// - `!` feed hold: Hold:1 while it slows down (lines are still read), Hold:0 at rest (no line is
//   read until `~`); `~` resumes from Hold:0 only;
// - 0x18 soft reset: in Run, Home or Hold:1, `ALARM:3` (6 homing), half a second of deafness, then
//   the banner and the unlock hint, in Alarm; in Idle or Hold:0, just the banner, position kept;
// - `$H` (error:5 unless homing is enabled) `$X` `$$` `$#` `$G` `$I` `$N` `$n=v`, refused with error:8
//   in Run and Hold as GRBL does; G0 G1 G4 G17-19 G20 G21 G54 G90 G91 G94, F S T N, M0-M6 M8 M9 M30;
//   feed and rapid overrides 0x90-0x97;
// - `overlaps`: command lines that arrived while an earlier move, homing or dwell was unfinished.
// Not simulated: arcs, jogging, check mode, sleep, probing, work offsets (WCO stays 0), acceleration
// other than a feed hold's, and grbl-sim's blank-EEPROM `error:7` and settings dump at its first boot.
import { SerialPort } from "serialport";
import {
  GrblMachine,
  type GrblMachineOptions,
  type GrblState,
  type OverlappingLine,
  type ReceivedLine,
} from "./grbl-machine.js";

export { GrblError } from "./grbl-gcode.js";
export {
  BANNER,
  type GrblMachineOptions,
  type GrblState,
  type OverlappingLine,
  type ReceivedLine,
} from "./grbl-machine.js";

export interface GrblSimulatorOptions extends GrblMachineOptions {
  /** How often simulated time moves on while nothing arrives, in ms. Default 5. */
  tickMs?: number;
}

export interface SentText {
  text: string;
  at: number;
}

/** Milliseconds since the epoch, monotonic and sub-millisecond, as used in `commands[].at`. */
export const simulatorClock = (): number => performance.timeOrigin + performance.now();

export class GrblSimulator {
  /** Opens `devicePath` (the pty pair's device end) and powers the controller up. */
  static async start(devicePath: string, options: GrblSimulatorOptions = {}): Promise<GrblSimulator> {
    const port = new SerialPort({ path: devicePath, baudRate: 115200, autoOpen: false });
    const simulator = new GrblSimulator(port, options);
    try {
      await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
    } catch (error) {
      await simulator.close();
      throw error;
    }
    simulator.machine.powerOn(simulatorClock());
    return simulator;
  }

  /** Everything written to the host, with times. */
  readonly sent: SentText[] = [];
  /** The last error the port reported (a write after an unplug, for instance). */
  lastError: Error | undefined;

  private readonly machine: GrblMachine;
  private readonly timer: NodeJS.Timeout;
  private silent = false;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly port: SerialPort,
    options: GrblSimulatorOptions,
  ) {
    this.machine = new GrblMachine(options, (text) => this.write(text, false), simulatorClock());
    // Listeners first: an unplugged pty must never crash the test process.
    port.on("error", (error) => (this.lastError = error));
    port.on("close", () => clearInterval(this.timer));
    port.on("data", (chunk: Buffer) => {
      if (!this.silent) this.machine.receive(chunk, simulatorClock());
    });
    this.timer = setInterval(() => this.machine.advance(simulatorClock()), options.tickMs ?? 5);
    this.timer.unref();
  }

  /** Every line received, realtime bytes left out, with the time its end arrived. */
  get commands(): readonly ReceivedLine[] {
    return this.machine.commands;
  }

  /**
   * How many command lines arrived while an earlier one was still being carried out (a move
   * running or queued, homing, a dwell): what a controller driven from two places at once sees.
   */
  get overlaps(): number {
    return this.machine.overlapping.length;
  }

  /** The overlapping lines, each with the state it arrived in and the command before it. */
  get overlapping(): readonly OverlappingLine[] {
    return this.machine.overlapping;
  }

  /** `Idle`, `Run`, `Hold:1`, `Hold:0`, `Home` or `Alarm`, as a status report would say now. */
  get state(): GrblState {
    this.machine.advance(simulatorClock());
    return this.machine.state;
  }

  /** Machine position in mm, as MPos would say now. */
  get position(): { x: number; y: number; z: number } {
    this.machine.advance(simulatorClock());
    const [x, y, z] = this.machine.position;
    return { x, y, z };
  }

  /** Moves in the planner, the running one included. */
  get plannedMoves(): number {
    this.machine.advance(simulatorClock());
    return this.machine.plannedMoves;
  }

  /** Bytes dropped because the 128-byte receive buffer was full (a host that streamed too much). */
  get droppedBytes(): number {
    return this.machine.droppedBytes;
  }

  get isOpen(): boolean {
    return this.port.isOpen;
  }

  /** The next line command is answered `error:code` and not run. Several calls queue up. */
  failNext(code: number): void {
    this.machine.failNext(code);
  }

  /** Raises `ALARM:code` and aborts motion. 1 and 2 (limits) then ignore lines until soft reset. */
  alarm(code: number): void {
    this.machine.alarm(code, simulatorClock());
  }

  /** While on, the controller neither reads nor answers anything (bytes received are lost). */
  silence(on: boolean): void {
    this.silent = on;
  }

  /** Input pins that read active from now on, as `activePins` (e.g. "X" for a tripped X limit). */
  setActivePins(pins: string): void {
    this.machine.setActivePins(pins);
  }

  /** Sends one line of printable junk (or `text`), as line noise or a confused device would. */
  garbage(text?: string): void {
    let junk = text;
    while (junk === undefined || (text === undefined && /^(ok|error|ALARM|Grbl|[<[$])/.test(junk))) {
      const length = 8 + Math.floor(Math.random() * 32);
      junk = Array.from({ length }, () => String.fromCharCode(0x21 + Math.floor(Math.random() * 94))).join(
        "",
      );
    }
    this.write(`${junk}\r\n`, true);
  }

  /** Sends raw text to the host, even while silenced. */
  send(text: string): void {
    this.write(text, true);
  }

  /** Closes the port; resolves also when the pty is already gone. */
  close(): Promise<void> {
    clearInterval(this.timer);
    this.closing ??= new Promise<void>((resolve) => {
      if (!this.port.isOpen) return resolve();
      this.port.close(() => resolve());
    });
    return this.closing;
  }

  private write(text: string, evenIfSilent: boolean): void {
    if ((this.silent && !evenIfSilent) || !this.port.isOpen) return;
    this.sent.push({ text, at: simulatorClock() });
    this.port.write(text, (error) => {
      if (error) this.lastError = error;
    });
  }
}

/** Shorthand for `GrblSimulator.start`. */
export const startGrblSimulator = (devicePath: string, options?: GrblSimulatorOptions) =>
  GrblSimulator.start(devicePath, options);
