// The GRBL 1.1 protocol state machine behind the simulator: bytes in, text out, time passed in by
// the caller (milliseconds). No I/O and no timers, so it can be driven step by step. It follows
// GRBL 1.1h's protocol.c: realtime bytes act at once; other bytes wait in a bounded receive buffer
// while a line blocks (full planner, dwell, homing); a move's `ok` means "queued". G-code is in
// grbl-gcode.ts, `$` commands in grbl-system.ts, the planner and steppers in grbl-motion.ts.
import {
  GrblError,
  executeGcode,
  initialModal,
  type GcodeStep,
  type ModalState,
  type Vec3,
} from "./grbl-gcode.js";
import { GrblMotion } from "./grbl-motion.js";
import { grblSettings, systemCommand } from "./grbl-system.js";

export type GrblState = "Idle" | "Run" | "Hold:0" | "Home" | "Alarm";

export interface GrblMachineOptions {
  /** Power up in Alarm until `$H` or `$X` (homing enabled with GRBL's HOMING_INIT_LOCK). Default false. */
  homingRequired?: boolean;
  /** How long a `$H` cycle takes, in simulated ms. Default 200. */
  homingMs?: number;
  /** G0 speed and every axis' maximum rate ($110-$112), mm/min. Default 60000. */
  rapidRate?: number;
  /** Simulated time per real time: 10 runs moves, dwells and homing 10 times faster. Default 1. */
  timeScale?: number;
  /** Planner blocks (GRBL on an Uno: 15). A move line waits unanswered while the planner is full. */
  plannerBlocks?: number;
  /** Receive buffer (GRBL: 128, of which 127 usable). Bytes past it are dropped, as on the chip. */
  rxBufferSize?: number;
  /** Like the firmware, end a line at every "\r" and every "\n" (so "\r\n" gets two answers). Default false. */
  strictLineEnds?: boolean;
  /** Add `|WCO:` and `|Ov:` to some status reports, as GRBL 1.1h does. Default true. */
  extraStatusFields?: boolean;
}

export interface ReceivedLine {
  line: string;
  at: number;
}

/** A command line that arrived while the machine was still busy with an earlier one. */
export interface OverlappingLine extends ReceivedLine {
  /** The state a status report would have given when the line arrived. */
  state: GrblState;
  /** Moves in the planner then, the running one included. */
  plannedMoves: number;
  /** The command line before it (the one, or one of those, still being carried out). */
  after: ReceivedLine | undefined;
}

export const BANNER = "\r\nGrbl 1.1h ['$' for help]\r\n";
const UNLOCK_HINT = "[MSG:'$H'|'$X' to unlock]\r\n";

/** What is left to do of the line being run; it is answered `ok` when the list is empty. */
type Step =
  | Exclude<GcodeStep, { kind: "dwell" }>
  | { kind: "dwell"; seconds: number; left?: number }
  | { kind: "home"; started?: boolean }
  | { kind: "resume" };
type InnerState = "Idle" | "Run" | "Hold" | "Home" | "Alarm";
const isEol = (byte: number) => byte === 0x0a || byte === 0x0d;
const noFlags = () => ({ paren: false, semicolon: false, overflow: false });

export class GrblMachine {
  /** Every line received (realtime bytes left out), with the time its end arrived. */
  readonly commands: ReceivedLine[] = [];
  /** Bytes lost because the receive buffer was full. */
  droppedBytes = 0;
  /**
   * Command lines (any non-empty line) whose end arrived while an earlier command was not finished
   * as a host waiting for it would see: a move queued or running, homing, a dwell, or a line still
   * blocked unanswered (full planner, M0). A host that sends one command at a time and waits for
   * Idle, as the driver does, never causes one. `?` and other realtime bytes are not lines.
   */
  readonly overlapping: OverlappingLine[] = [];

  private readonly opts: Required<GrblMachineOptions>;
  private readonly settings: Map<number, number>;
  private readonly motion: GrblMotion;
  private clock: number;
  private inner: InnerState = "Idle";
  private planned: Vec3 = [0, 0, 0];
  private modal: ModalState = initialModal();
  private active: Step[] | undefined;
  private criticalLock = false;
  private rx: number[] = [];
  private line = "";
  private lineFlags = noFlags();
  private lastWasCr = false;
  private logLine = "";
  private logLastWasCr = false;
  private failures: number[] = [];
  private lastCommand: ReceivedLine | undefined;
  private wcoCounter = 0;
  private ovrCounter = 0;

  constructor(
    options: GrblMachineOptions,
    private readonly output: (text: string) => void,
    now: number,
  ) {
    this.opts = {
      ...{ homingRequired: false, homingMs: 200, rapidRate: 60_000, timeScale: 1, plannerBlocks: 15 },
      ...{ rxBufferSize: 128, strictLineEnds: false, extraStatusFields: true },
      ...options,
    };
    this.settings = grblSettings(this.opts.rapidRate);
    this.motion = new GrblMotion(this.opts, (axis) => this.settings.get(100 + axis) ?? 250);
    this.clock = now;
  }

  /** Power-up: the banner, and the unlock hint when homing is required. */
  powerOn(now: number): void {
    this.clock = now;
    this.inner = this.opts.homingRequired ? "Alarm" : "Idle";
    this.restart();
  }

  get state(): GrblState {
    return this.inner === "Hold" ? "Hold:0" : this.inner;
  }
  get position(): Vec3 {
    return [...this.motion.position];
  }
  /** Moves queued in the planner, the running one included. */
  get plannedMoves(): number {
    return this.motion.queued;
  }

  /** The next line (whatever it is) is answered `error:code` and not run. Calls queue up. */
  failNext(code: number): void {
    this.failures.push(code);
  }

  receive(bytes: Uint8Array, now: number): void {
    this.advance(now);
    for (const byte of bytes) {
      if (this.realtime(byte)) continue;
      if (this.rx.length >= this.opts.rxBufferSize - 1) {
        this.droppedBytes++;
        continue;
      }
      this.rx.push(byte);
      this.logByte(byte, now);
      this.pump();
    }
  }

  /** Lets simulated time run up to `now`: moves progress, dwells and homing end, lines go on. */
  advance(now: number): void {
    for (let guard = 0; this.clock < now && guard < 100_000; guard++) {
      const dt = now - this.clock;
      const dwell = this.runningDwell();
      const running = this.inner === "Run" || this.inner === "Home";
      const next = Math.min(this.motion.timeToNextEvent(running), dwell?.left ?? Infinity);
      const h = Math.min(dt, next);
      this.motion.integrate(h, running);
      if (dwell) dwell.left = Math.max(0, (dwell.left ?? 0) - h);
      this.clock += h;
      if (next <= dt) this.settle();
    }
    this.clock = Math.max(this.clock, now);
  }

  /** An alarm like a limit switch or a failed homing: motion stops, `ALARM:code` is sent. */
  alarm(code: number, now: number): void {
    this.advance(now);
    const busy = this.inner === "Home" || this.motion.queued > 0 || this.active !== undefined;
    this.motion.abort();
    this.active = undefined;
    this.inner = "Alarm";
    this.output(`ALARM:${code}\r\n`);
    if (code === 1 || code === 2) {
      // Hard and soft limits: GRBL ignores everything but `?` and soft reset until reset.
      this.output("[MSG:Reset to continue]\r\n");
      this.criticalLock = true;
    } else if (busy) {
      this.restart(); // GRBL resets itself (mc_reset) to kill the steppers
    }
  }

  private realtime(byte: number): boolean {
    switch (byte) {
      case 0x3f: // ?
        this.output(this.statusReport());
        return true;
      case 0x21: // ! feed hold
        if (!this.criticalLock && (this.inner === "Run" || this.inner === "Idle")) this.inner = "Hold";
        return true;
      case 0x7e: // ~ cycle start
        if (this.inner === "Hold" && !this.criticalLock) {
          if (this.active?.[0]?.kind === "resume") this.active.shift();
          this.inner = this.motion.queued > 0 ? "Run" : "Idle";
          this.continueLines();
        }
        return true;
      case 0x18:
        this.softReset();
        return true;
    }
    if (byte >= 0x90 && byte <= 0x94) {
      const change = [0, 10, -10, 1, -1][byte - 0x90] ?? 0;
      const feed = byte === 0x90 ? 100 : this.motion.feedOverride + change;
      this.motion.feedOverride = Math.min(200, Math.max(10, feed));
      this.ovrCounter = 0;
    } else if (byte >= 0x95 && byte <= 0x97) {
      this.motion.rapidOverride = [100, 50, 25][byte - 0x95] ?? 100;
      this.ovrCounter = 0;
    }
    // Other realtime commands (door, jog cancel, spindle...) are not simulated; like any unknown
    // extended-ASCII byte, GRBL keeps them out of the receive buffer.
    return byte >= 0x80;
  }

  private softReset(): void {
    let code = 0;
    if (this.inner === "Home") code = 6;
    else if (this.motion.queued > 0) code = 3;
    this.motion.abort();
    this.active = undefined;
    this.criticalLock = false;
    if (code !== 0) {
      this.output(`ALARM:${code}\r\n`);
      this.inner = "Alarm";
    }
    this.restart();
  }

  /** GRBL's main() after a reset: buffers and parser cleared, position kept, banner printed. */
  private restart(): void {
    this.rx = [];
    this.line = this.logLine = "";
    this.lineFlags = noFlags();
    this.lastWasCr = this.logLastWasCr = false;
    this.modal = initialModal();
    this.planned = [...this.motion.position];
    this.motion.feedOverride = this.motion.rapidOverride = 100;
    this.wcoCounter = this.ovrCounter = 0;
    this.output(BANNER);
    if (this.inner === "Alarm") this.output(UNLOCK_HINT);
    else this.inner = "Idle";
  }

  private logByte(byte: number, now: number): void {
    if (!isEol(byte)) {
      this.logLastWasCr = false;
      this.logLine += String.fromCharCode(byte);
      return;
    }
    const skip = byte === 0x0a && this.logLastWasCr && !this.opts.strictLineEnds;
    this.logLastWasCr = byte === 0x0d;
    if (!skip) this.logLineEnd({ line: this.logLine, at: now });
    this.logLine = "";
  }

  /** A line has arrived (it has not been run yet): logs it, and notes it if it overlaps. */
  private logLineEnd(received: ReceivedLine): void {
    this.commands.push(received);
    if (received.line.trim() === "") return;
    const busy = this.active !== undefined || this.motion.queued > 0 || this.motion.homingActive;
    if (busy) {
      this.overlapping.push({
        ...received,
        state: this.state,
        plannedMoves: this.motion.queued,
        after: this.lastCommand,
      });
    }
    this.lastCommand = received;
  }

  /** GRBL's protocol_main_loop: reads the receive buffer while no line is blocking. */
  private pump(): void {
    while (this.active === undefined && !this.criticalLock && this.rx.length > 0) {
      const byte = this.rx.shift() ?? 0;
      const c = String.fromCharCode(byte);
      const flags = this.lineFlags;
      if (isEol(byte)) {
        const skip = byte === 0x0a && this.lastWasCr && !this.opts.strictLineEnds;
        this.lastWasCr = byte === 0x0d;
        if (skip) continue;
        const line = this.line;
        this.line = "";
        this.lineFlags = noFlags();
        this.executeLine(line, flags.overflow);
        continue;
      }
      this.lastWasCr = false;
      if (flags.paren || flags.semicolon || flags.overflow) {
        if (c === ")") flags.paren = false;
      } else if (byte <= 0x20 || c === "/") {
        // whitespace and control characters are thrown away; block delete is not supported
      } else if (c === "(") {
        flags.paren = true;
      } else if (c === ";") {
        flags.semicolon = true;
      } else if (this.line.length >= 79) {
        flags.overflow = true;
      } else {
        this.line += c.toUpperCase();
      }
    }
  }

  private reply(status: number): void {
    this.output(status === 0 ? "ok\r\n" : `error:${status}\r\n`);
  }

  private executeLine(line: string, overflow: boolean): void {
    const failure = this.failures.shift();
    if (failure !== undefined) return this.reply(failure);
    if (overflow) return this.reply(GrblError.Overflow);
    if (line === "") return this.reply(0);
    if (line.startsWith("$")) {
      const result = systemCommand(line, {
        state: this.inner,
        modal: this.modal,
        settings: this.settings,
        plannerBlocks: this.opts.plannerBlocks,
        rxBufferSize: this.opts.rxBufferSize,
      });
      if (result.text) this.output(result.text);
      if (result.action === "unlock") this.inner = "Idle";
      if (result.action === "home") this.begin([{ kind: "home" }]);
      if (result.status !== undefined) this.reply(result.status);
      return;
    }
    if (this.inner === "Alarm") return this.reply(GrblError.SystemGcLock);
    const result = executeGcode(line, this.modal, this.planned);
    if (!result.ok) return this.reply(result.code);
    this.modal = result.modal;
    this.planned = result.target;
    this.begin(result.steps.map((step) => ({ ...step })));
  }

  /** Runs a line's steps; the line is answered `ok` once the last one is done. */
  private begin(steps: Step[]): void {
    this.active = steps;
    this.runSteps();
  }

  private runSteps(): void {
    while (this.active) {
      const step = this.active[0];
      if (!step) {
        this.active = undefined;
        return this.reply(0);
      }
      if (!this.tryStep(step)) return;
      this.active.shift();
    }
  }

  private continueLines(): void {
    this.runSteps();
    this.pump();
  }

  /** Does a step, or says it cannot be done yet (the line then blocks the receive buffer). */
  private tryStep(step: Step): boolean {
    const synced = this.motion.queued === 0;
    switch (step.kind) {
      case "move":
        if (!this.motion.plan(step.target, step.rapid, step.feedRate)) return false;
        if (this.inner === "Idle" && this.motion.queued > 0) this.inner = "Run";
        return true;
      case "dwell":
        if (step.left === undefined) {
          if (!synced) return false;
          step.left = (step.seconds * 1000) / this.opts.timeScale;
        }
        return step.left <= 0;
      case "pause": // M0: a feed hold once motion is done; the line ends on cycle start `~`
        if (!synced) return false;
        this.active?.splice(1, 0, { kind: "resume" });
        this.inner = "Hold";
        return true;
      case "resume":
        return false; // removed by `~`
      case "end":
        if (!synced) return false;
        this.output("[MSG:Pgm End]\r\n");
        return true;
      case "home":
        if (!step.started) {
          step.started = true;
          this.motion.startHoming();
          this.inner = "Home";
        }
        return !this.motion.homingActive;
    }
  }

  /** The dwell being timed, unless a feed hold pauses it. */
  private runningDwell(): Extract<Step, { kind: "dwell" }> | undefined {
    const step = this.active?.[0];
    return step?.kind === "dwell" && step.left !== undefined && this.inner !== "Hold" ? step : undefined;
  }

  private settle(): void {
    if (this.motion.settle()) {
      this.planned = [0, 0, 0];
      this.inner = "Idle";
    }
    if (this.inner === "Run" && this.motion.queued === 0) this.inner = "Idle";
    this.continueLines();
  }

  private statusReport(): string {
    const axes = (v: Vec3) => v.map((n) => n.toFixed(3)).join(",");
    const feed = this.inner === "Run" ? Math.round(this.motion.currentRate()) : 0;
    const speed = this.modal.spindle === 5 ? 0 : Math.round(this.modal.spindleSpeed);
    let report = `<${this.state}|MPos:${axes(this.motion.position)}|FS:${feed},${speed}`;
    if (this.opts.extraStatusFields) {
      // GRBL sends WCO every 10th report (30th while busy) and Ov on the report after, or after a change.
      const busy = this.inner === "Run" || this.inner === "Hold" || this.inner === "Home";
      if (this.wcoCounter > 0) this.wcoCounter--;
      else {
        this.wcoCounter = (busy ? 30 : 10) - 1;
        if (this.ovrCounter === 0) this.ovrCounter = 1;
        report += "|WCO:0.000,0.000,0.000";
      }
      if (this.ovrCounter > 0) this.ovrCounter--;
      else {
        this.ovrCounter = (busy ? 20 : 10) - 1;
        report += `|Ov:${this.motion.feedOverride},${this.motion.rapidOverride},100`;
        const spindle = { 3: "S", 4: "C", 5: "" }[this.modal.spindle];
        const accessories = `${spindle}${this.modal.flood ? "F" : ""}${this.modal.mist ? "M" : ""}`;
        if (accessories) report += `|A:${accessories}`;
      }
    }
    return `${report}>\r\n`;
  }
}
