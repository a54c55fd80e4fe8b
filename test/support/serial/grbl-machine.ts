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
import { GrblMotion, type MotionMode } from "./grbl-motion.js";
import { grblSettings, systemCommand } from "./grbl-system.js";

/** Hold:1 is a feed hold still decelerating, Hold:0 one at rest (ready to resume). */
export type GrblState = "Idle" | "Run" | "Hold:0" | "Hold:1" | "Home" | "Alarm";

export interface GrblMachineOptions {
  /**
   * Homing enabled (`$22=1`): `$H` runs a homing cycle; without it `$H` answers error:5, as with
   * GRBL's default settings. Default: `homingRequired`.
   */
  homingEnabled?: boolean;
  /**
   * Power up in Alarm (`[MSG:'$H'|'$X' to unlock]`) until `$H` or `$X`, as GRBL does whenever homing is
   * enabled (its HOMING_INIT_LOCK build option); true also enables homing. Default: `homingEnabled`.
   */
  homingRequired?: boolean;
  /** How long a `$H` cycle takes, in simulated ms. Default 200. */
  homingMs?: number;
  /** G0 speed and every axis' maximum rate ($110-$112), mm/min. Default 60000. */
  rapidRate?: number;
  /**
   * How fast a feed hold slows down ($120-$122), mm/s^2; other starts and stops are instant. Default
   * rapidRate / 50: from full speed a hold takes 0.83 s, as with GRBL's defaults (500 mm/min, 10 mm/s^2).
   */
  acceleration?: number;
  /**
   * Input pins that read active, reported as `|Pn:` (GRBL sends the field only then): any of `P`
   * (probe), `X` `Y` `Z` (limits), `R` `H` `S` (reset, feed hold, cycle start buttons). Default "".
   */
  activePins?: string;
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
/** GRBL waits this long after printing `ALARM:N` (report_alarm_message's delay_ms), simulated ms. */
const ALARM_PAUSE_MS = 500;
const PIN_ORDER = "PXYZRHS";

/** What is left to do of the line being run; it is answered `ok` when the list is empty. */
type Step =
  | Exclude<GcodeStep, { kind: "dwell" }>
  | { kind: "dwell"; seconds: number; left?: number }
  | { kind: "home"; started?: boolean }
  | { kind: "resume" };
type InnerState = "Idle" | "Run" | "Hold" | "Home" | "Alarm";
/** What GRBL does once the pause after an ALARM line is over. */
type AfterAlarm = "reset" | "lock" | "nothing";
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

  private readonly opts: Required<
    Omit<GrblMachineOptions, "homingEnabled" | "homingRequired" | "activePins">
  >;
  private readonly bootLocked: boolean;
  private pins: string;
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
  /** In Hold: true once motion has come to rest (Hold:0). GRBL then reads no lines until `~`. */
  private holdComplete = false;
  /** A `?` GRBL has taken but not answered yet (it answers none while homing or pausing after an alarm). */
  private statusPending = false;
  /** The pause after an ALARM line: GRBL does nothing until `until`, then `then`. */
  private alarmPause: { until: number; then: AfterAlarm } | undefined;

  constructor(
    options: GrblMachineOptions,
    private readonly output: (text: string) => void,
    now: number,
  ) {
    const rapidRate = options.rapidRate ?? 60_000;
    this.opts = {
      ...{ homingMs: 200, rapidRate, acceleration: rapidRate / 50, timeScale: 1, plannerBlocks: 15 },
      ...{ rxBufferSize: 128, strictLineEnds: false, extraStatusFields: true },
      ...withoutUndefined(options),
    };
    const homing = options.homingEnabled ?? options.homingRequired ?? false;
    this.bootLocked = options.homingRequired ?? homing;
    this.pins = sortPins(options.activePins ?? "");
    this.settings = grblSettings(rapidRate, this.opts.acceleration, homing || this.bootLocked);
    this.motion = new GrblMotion(this.opts, (axis) => this.settings.get(100 + axis) ?? 250);
    this.clock = now;
  }

  /** Power-up: the banner, and the unlock hint when homing is enabled (HOMING_INIT_LOCK). */
  powerOn(now: number): void {
    this.clock = now;
    this.inner = this.bootLocked ? "Alarm" : "Idle";
    this.restart();
  }

  get state(): GrblState {
    if (this.inner === "Hold") return this.holdComplete ? "Hold:0" : "Hold:1";
    return this.inner;
  }

  /** Sets the input pins that read active (see `activePins`). */
  setActivePins(pins: string): void {
    this.pins = sortPins(pins);
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
      const mode = this.motionMode();
      const pauseLeft = this.alarmPause ? Math.max(0, this.alarmPause.until - this.clock) : Infinity;
      const next = Math.min(this.motion.timeToNextEvent(mode), dwell?.left ?? Infinity, pauseLeft);
      const h = Math.min(dt, next);
      this.motion.integrate(h, mode);
      if (dwell) dwell.left = Math.max(0, (dwell.left ?? 0) - h);
      this.clock += h;
      if (pauseLeft <= h) this.endAlarmPause();
      else if (next <= dt) this.settle();
    }
    this.clock = Math.max(this.clock, now);
  }

  /** An alarm like a limit switch or a failed homing: motion stops, `ALARM:code` is sent. */
  alarm(code: number, now: number): void {
    this.advance(now);
    if (this.alarmPause) return;
    const busy = this.inner === "Home" || this.motion.queued > 0 || this.active !== undefined;
    // Hard and soft limits lock GRBL until a soft reset; other alarms in motion reset it (mc_reset).
    const then = code === 1 || code === 2 ? "lock" : busy ? "reset" : "nothing";
    this.raiseAlarm(code, then);
  }

  private raiseAlarm(code: number, then: AfterAlarm): void {
    this.motion.abort();
    this.active = undefined;
    this.inner = "Alarm";
    this.output(`ALARM:${code}\r\n`);
    this.alarmPause = { until: this.clock + ALARM_PAUSE_MS / this.opts.timeScale, then };
  }

  private endAlarmPause(): void {
    const then = this.alarmPause?.then;
    this.alarmPause = undefined;
    if (then === "reset") return this.restart();
    if (then === "lock") {
      // GRBL's critical-event loop: it waits for a soft reset and answers nothing, not even `?`.
      this.output("[MSG:Reset to continue]\r\n");
      this.criticalLock = true;
      this.statusPending = false;
      return;
    }
    this.answerPendingStatus();
    this.pump();
  }

  /** How the motion may go: at full speed, slowing down for a hold, or not at all. */
  private motionMode(): MotionMode {
    if (this.inner === "Run" || this.inner === "Home") return "run";
    return this.inner === "Hold" && !this.holdComplete ? "hold" : "stopped";
  }

  private realtime(byte: number): boolean {
    if (this.alarmPause) {
      // GRBL is in a delay: realtime bytes only raise flags, which the reset after it clears.
      if (byte === 0x3f) this.statusPending = true;
      if (byte === 0x18 && this.alarmPause.then === "nothing") this.alarmPause.then = "reset";
      return byte === 0x3f || byte === 0x21 || byte === 0x7e || byte === 0x18 || byte >= 0x80;
    }
    switch (byte) {
      case 0x3f: // ?
        // Homing runs no realtime checks: GRBL answers once the cycle is over. Nothing in a lock.
        if (this.inner === "Home") this.statusPending = true;
        else if (!this.criticalLock) this.output(this.statusReport());
        return true;
      case 0x21: // ! feed hold: Run slows down (Hold:1) and stops (Hold:0); Idle holds at once.
        if (this.criticalLock || (this.inner !== "Run" && this.inner !== "Idle")) return true;
        this.holdComplete = this.inner === "Idle";
        this.inner = "Hold";
        this.motion.startHold();
        return true;
      case 0x7e: // ~ cycle start: ignored until a hold is complete (not during Hold:1)
        if (this.inner === "Hold" && this.holdComplete && !this.criticalLock) {
          if (this.active?.[0]?.kind === "resume") this.active.shift();
          this.motion.endHold();
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

  /**
   * GRBL's mc_reset: a reset while the steppers turn (Run, Home, or Hold:1 still slowing down) kills
   * them, and the position may be lost: ALARM:3 (6 while homing). At rest (Idle, Hold:0) nothing is
   * lost: the queued motion is dropped, the position kept, and GRBL comes back Idle.
   */
  private softReset(): void {
    let code = 0;
    if (this.inner === "Home") code = 6;
    else if (this.inner === "Run" || (this.inner === "Hold" && !this.holdComplete)) code = 3;
    this.criticalLock = false;
    if (code !== 0) return this.raiseAlarm(code, "reset");
    this.motion.abort();
    this.active = undefined;
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
    this.holdComplete = this.statusPending = false;
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
    while (this.readsLines() && this.rx.length > 0) {
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

  /** GRBL's main loop reads no lines while a line runs, in a lock, an alarm's pause, or Hold:0. */
  private readsLines(): boolean {
    const suspended = this.inner === "Hold" && this.holdComplete;
    return this.active === undefined && !this.criticalLock && !this.alarmPause && !suspended;
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
        this.holdComplete = true;
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
      this.answerPendingStatus(); // still in Home, just before `$H`'s ok
      this.planned = [0, 0, 0];
      this.inner = "Idle";
    }
    if (this.inner === "Hold" && !this.holdComplete && this.motion.holdStopped) this.holdComplete = true;
    if (this.inner === "Run" && this.motion.queued === 0) this.inner = "Idle";
    this.continueLines();
  }

  private answerPendingStatus(): void {
    if (this.statusPending) this.output(this.statusReport());
    this.statusPending = false;
  }

  private statusReport(): string {
    const axes = (v: Vec3) => v.map((n) => n.toFixed(3)).join(",");
    const moving = this.inner === "Run" || this.inner === "Hold";
    const feed = moving ? Math.round(this.motion.currentRate()) : 0;
    const speed = this.modal.spindle === 5 ? 0 : Math.round(this.modal.spindleSpeed);
    let report = `<${this.state}|MPos:${axes(this.motion.position)}|FS:${feed},${speed}`;
    if (this.pins) report += `|Pn:${this.pins}`;
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

/** The pins GRBL would print, in its order (report.c): probe, limits, then control buttons. */
const sortPins = (pins: string): string =>
  [...PIN_ORDER].filter((pin) => pins.toUpperCase().includes(pin)).join("");

/** Options as given, without the keys set to undefined (which would hide the defaults). */
function withoutUndefined<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<T>;
}
