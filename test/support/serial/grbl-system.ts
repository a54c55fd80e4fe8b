// GRBL 1.1h's `$` system commands (system_execute_line) and its `$$` settings, for the simulator.
// Pure: takes the machine's state, returns the text to send, the status and what the machine must do.
import { GrblError, formatModal, readNumber, type ModalState } from "./grbl-gcode.js";

// Defaults of 1.1h, but homing enabled ($22=1, so `$H` works); whether the machine powers up locked
// is the simulator's `homingRequired`.
const DEFAULTS: [number, number][] = [
  [0, 10], [1, 25], [2, 0], [3, 0], [4, 0], [5, 0], [6, 0], [10, 1], [11, 0.01], [12, 0.002],
  [13, 0], [20, 0], [21, 0], [22, 1], [23, 0], [24, 25], [25, 500], [26, 250], [27, 1], [30, 1000],
  [31, 0], [32, 0], [100, 250], [101, 250], [102, 250], [110, 500], [111, 500], [112, 500],
  [120, 10], [121, 10], [122, 10], [130, 200], [131, 200], [132, 200],
]; // prettier-ignore

/** Settings GRBL prints as integers; the others get three decimals. */
const INTEGER = new Set([0, 1, 2, 3, 4, 5, 6, 10, 13, 20, 21, 22, 23, 26, 30, 31, 32]);
const HELP = "[HLP:$$ $# $G $I $N $x=val $Nx=line $J=line $SLP $C $X $H ~ ! ? ctrl-x]";
const OFFSETS = ["G54", "G55", "G56", "G57", "G58", "G59", "G28", "G30", "G92"];

/** The settings, with the maximum rates ($110-$112) at the simulator's rapid rate. */
export function grblSettings(rapidRate: number): Map<number, number> {
  const settings = new Map(DEFAULTS);
  for (const axis of [110, 111, 112]) settings.set(axis, rapidRate);
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
  if (command.startsWith("J=") || command === "C" || /^(SLP|RST=)/.test(command)) {
    return fail(GrblError.UnsupportedCommand); // jogging, check mode, sleep, restore: not simulated
  }
  if (state !== "Idle" && state !== "Alarm") return fail(GrblError.IdleError);
  switch (command) {
    case "#":
      return done(
        [...OFFSETS.map((name) => `[${name}:0.000,0.000,0.000]`), "[TLO:0.000]", "[PRB:0.000,0.000,0.000:0]"]
          .map((text) => `${text}\r\n`)
          .join(""),
      );
    case "H":
      return { text: "", status: undefined, action: "home" };
    case "I":
      return done(`[VER:1.1h.20190825:]\r\n[OPT:V,${context.plannerBlocks},${context.rxBufferSize}]\r\n`);
    case "N":
      return done("$N0=\r\n$N1=\r\n");
  }
  if (/^[HIN]/.test(command)) return fail(GrblError.InvalidStatement); // $HX, $I=, $N0=: not simulated
  return done("", storeSetting(line, context.settings));
}

/** `$$`'s answer before its `ok`: one `$n=value` line per setting. */
function settingLines(settings: Map<number, number>): string {
  return [...settings]
    .map(([n, value]) => `$${n}=${INTEGER.has(n) ? Math.trunc(value) : value.toFixed(3)}\r\n`)
    .join("");
}

/** `$n=value`: GRBL's checks, in its order. */
function storeSetting(line: string, settings: Map<number, number>): number {
  const parameter = readNumber(line, 1);
  if (!parameter) return GrblError.BadNumberFormat;
  if (line[parameter.next] !== "=") return GrblError.InvalidStatement;
  const value = readNumber(line, parameter.next + 1);
  if (!value) return GrblError.BadNumberFormat;
  if (value.next !== line.length) return GrblError.InvalidStatement;
  if (value.value < 0) return GrblError.NegativeValue;
  if (!settings.has(parameter.value)) return GrblError.InvalidStatement;
  settings.set(parameter.value, value.value);
  return 0;
}
