// GRBL 1.1h's `$` system commands (system_execute_line) and its `$$` settings, for the simulator.
// Pure: takes the machine's state, returns the text to send, the status and what the machine must do.
import { GrblError, formatModal, readNumber, type ModalState } from "./grbl-gcode.js";

// Defaults of 1.1h (defaults.h): homing disabled ($22=0, `$H` answers error:5) unless the simulator
// is told otherwise (`homingEnabled`).
const DEFAULTS: [number, number][] = [
  [0, 10], [1, 25], [2, 0], [3, 0], [4, 0], [5, 0], [6, 0], [10, 1], [11, 0.01], [12, 0.002],
  [13, 0], [20, 0], [21, 0], [22, 0], [23, 0], [24, 25], [25, 500], [26, 250], [27, 1], [30, 1000],
  [31, 0], [32, 0], [100, 250], [101, 250], [102, 250], [110, 500], [111, 500], [112, 500],
  [120, 10], [121, 10], [122, 10], [130, 200], [131, 200], [132, 200],
]; // prettier-ignore

/** Settings GRBL prints as integers; the others get three decimals. */
const INTEGER = new Set([0, 1, 2, 3, 4, 5, 6, 10, 13, 20, 21, 22, 23, 26, 30, 31, 32]);
/** Settings GRBL keeps as one bit of its flags: `$22=5` is stored, and printed, as 1. */
const FLAGS = new Set([4, 5, 6, 13, 20, 21, 22, 32]);
const HELP = "[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]";
const OFFSETS = ["G54", "G55", "G56", "G57", "G58", "G59", "G28", "G30", "G92"];

/**
 * The settings, with the maximum rates ($110-$112) at the simulator's rapid rate, the accelerations
 * ($120-$122) in mm/s^2, and homing ($22) on or off.
 */
export function grblSettings(rapidRate: number, acceleration: number, homing: boolean): Map<number, number> {
  const settings = new Map(DEFAULTS);
  for (const axis of [110, 111, 112]) settings.set(axis, rapidRate);
  for (const axis of [120, 121, 122]) settings.set(axis, acceleration);
  settings.set(22, homing ? 1 : 0);
  return settings;
}

export interface SystemContext {
  state: "Idle" | "Run" | "Hold" | "Home" | "Alarm";
  modal: ModalState;
  settings: Map<number, number>;
  plannerBlocks: number;
  rxBufferSize: number;
}

export interface SystemResult {
  /** Lines to send before the status, each ending in "\r\n". */
  text: string;
  /** 0 for `ok`, else the N of `error:N`; undefined when the command answers later (`$H`). */
  status: number | undefined;
  action?: "unlock" | "home";
}

const done = (text = "", status = 0): SystemResult => ({ text, status });
const fail = (status: number): SystemResult => ({ text: "", status });

/** Runs one normalized `$` line. `$$` stores settings into `context.settings`. */
export function systemCommand(line: string, context: SystemContext): SystemResult {
  const { state } = context;
  const command = line.slice(1);
  if (command === "") return done(`${HELP}\r\n`);
  if ("$GCX".includes(command[0] ?? "") && command.length > 1) return fail(GrblError.InvalidStatement);
  switch (command) {
    case "$": // blocked while moving: it takes too long to print
      if (state === "Run" || state === "Hold") return fail(GrblError.IdleError);
      return done(settingLines(context.settings));
    case "G":
      return done(`${formatModal(context.modal)}\r\n`);
    case "X":
      if (state !== "Alarm") return done();
      return { text: "[MSG:Caution: Unlocked]\r\n", status: 0, action: "unlock" };
  }
  // GRBL checks the state before anything else of these (`$J=` and `$C` need Idle).
  if (command.startsWith("J") || command === "C") {
    if (state !== "Idle") return fail(GrblError.IdleError);
    if (command.startsWith("J") && command[1] !== "=") return fail(GrblError.InvalidStatement);
    return fail(GrblError.UnsupportedCommand); // jogging and check mode: not simulated
  }
  // Every other command (settings, `$#`, `$H`, `$I`, `$N`...) needs Idle or Alarm: error:8 in Run or Hold.
  if (state !== "Idle" && state !== "Alarm") return fail(GrblError.IdleError);
  if (/^(SLP|RST=)/.test(command)) return fail(GrblError.UnsupportedCommand); // sleep, restore: not simulated
  switch (command) {
    case "#":
      return done(
        [...OFFSETS.map((name) => `[${name}:0.000,0.000,0.000]`), "[TLO:0.000]", "[PRB:0.000,0.000,0.000:0]"]
          .map((text) => `${text}\r\n`)
          .join(""),
      );
    case "H":
      if (!context.settings.get(22)) return fail(GrblError.SettingDisabled); // homing disabled ($22=0)
      return { text: "", status: undefined, action: "home" };
    case "I":
      return done(`[VER:1.1h.20190830:]\r\n[OPT:V,${context.plannerBlocks},${context.rxBufferSize}]\r\n`);
    case "N":
      return done("$N0=\r\n$N1=\r\n");
  }
  if (command.startsWith("N") && state !== "Idle") return fail(GrblError.IdleError); // no startup line in Alarm
  if (/^[HIN]/.test(command)) return fail(GrblError.InvalidStatement); // $HX, $I=, $N0=: not simulated
  return done("", storeSetting(line, context.settings));
}

/** `$$`'s answer before its `ok`: one `$n=value` line per setting. */
function settingLines(settings: Map<number, number>): string {
  return [...settings]
    .map(([n, value]) => `$${n}=${INTEGER.has(n) ? Math.trunc(value) : value.toFixed(3)}\r\n`)
    .join("");
}

/** `$n=value`: GRBL's checks, in its order (system.c, then settings_store_global_setting). */
function storeSetting(line: string, settings: Map<number, number>): number {
  const parameter = readNumber(line, 1);
  if (!parameter) return GrblError.BadNumberFormat;
  if (line[parameter.next] !== "=") return GrblError.InvalidStatement;
  const value = readNumber(line, parameter.next + 1);
  if (!value) return GrblError.BadNumberFormat;
  if (value.next !== line.length || parameter.value > 255) return GrblError.InvalidStatement;
  if (value.value < 0) return GrblError.NegativeValue;
  const n = Math.trunc(parameter.value);
  if (!settings.has(n)) return GrblError.InvalidStatement;
  const int = Math.trunc(value.value);
  if (n === 0 && int < 3) return GrblError.StepPulseMin;
  // Soft limits need homing; turning homing off turns them off too.
  if (n === 20 && int && !settings.get(22)) return GrblError.SoftLimitError;
  if (n === 22 && !int) settings.set(20, 0);
  settings.set(n, FLAGS.has(n) ? Number(int !== 0) : value.value);
  return 0;
}
