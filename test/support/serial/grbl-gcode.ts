// The G-code half of the GRBL 1.1 simulator: parses one normalized block (upper case, no spaces, no
// comments, as GRBL's protocol loop hands it over) and says what it does, like GRBL's
// gc_execute_line, for the subset the simulator runs. Pure: no time, no I/O.

/** GRBL 1.1 status codes (the N of `error:N`) that the simulator answers with. */
export const GrblError = {
  ExpectedCommandLetter: 1,
  BadNumberFormat: 2,
  InvalidStatement: 3,
  NegativeValue: 4,
  SettingDisabled: 5,
  StepPulseMin: 6,
  IdleError: 8,
  SystemGcLock: 9,
  SoftLimitError: 10,
  Overflow: 11,
  UnsupportedCommand: 20,
  ModalGroupViolation: 21,
  UndefinedFeedRate: 22,
  CommandValueNotInteger: 23,
  AxisCommandConflict: 24,
  WordRepeated: 25,
  ValueWordMissing: 28,
  UnusedWords: 36,
} as const;

export type Vec3 = [number, number, number];

/** The parser's modal state, as `$G` reports it. Lengths and feed rates are kept in mm. */
export interface ModalState {
  motion: 0 | 1;
  plane: 17 | 18 | 19;
  units: 20 | 21;
  distance: 90 | 91;
  spindle: 3 | 4 | 5;
  mist: boolean;
  flood: boolean;
  tool: number;
  /** mm/min; 0 until an F word is given (then G1 fails with error:22). */
  feedRate: number;
  spindleSpeed: number;
}

export const initialModal = (): ModalState => ({
  motion: 0,
  plane: 17,
  units: 21,
  distance: 90,
  spindle: 5,
  mist: false,
  flood: false,
  tool: 0,
  feedRate: 0,
  spindleSpeed: 0,
});

/** What a block does, in GRBL's order of execution: dwell, then motion, then program flow. */
export type GcodeStep =
  | { kind: "dwell"; seconds: number }
  | { kind: "move"; rapid: boolean; target: Vec3; feedRate: number }
  | { kind: "pause" }
  | { kind: "end" };

export type GcodeResult =
  { ok: true; modal: ModalState; target: Vec3; steps: GcodeStep[] } | { ok: false; code: number };

const MM_PER_INCH = 25.4;
const AXES = "XYZ";
const VALUE_WORDS = "FNPSTXYZ";
const G_GROUPS: Record<number, string> = {
  0: "motion",
  1: "motion",
  4: "nonmodal",
  17: "plane",
  18: "plane",
  19: "plane",
  20: "units",
  21: "units",
  54: "coords",
  90: "distance",
  91: "distance",
  94: "feedmode",
};
const M_GROUPS: Record<number, string> = { 0: "stop", 1: "stop", 2: "stop", 30: "stop" };
for (const m of [3, 4, 5]) M_GROUPS[m] = "spindle";
// M7 (mist) is compiled out of GRBL by default (ENABLE_M7): it answers error:20.
for (const m of [8, 9]) M_GROUPS[m] = "coolant";

/** GRBL's read_float: optional sign, digits with at most one point, no exponent. */
export function readNumber(text: string, from: number): { value: number; next: number } | undefined {
  const match = /^[+-]?(\d+\.?\d*|\.\d+)/.exec(text.slice(from));
  if (!match) return undefined;
  return { value: Number(match[0]), next: from + match[0].length };
}

/**
 * Runs one G-code block against `modal`, from the planned position `planned` (mm). Returns the new
 * modal state and target, or the GRBL status code that rejects the block (which then changes nothing).
 */
export function executeGcode(block: string, current: ModalState, planned: Vec3): GcodeResult {
  const fail = (code: number): GcodeResult => ({ ok: false, code });
  const groups = new Set<string>();
  const gCodes: number[] = [];
  const mCodes: number[] = [];
  const values = new Map<string, number>();
  for (let i = 0; i < block.length;) {
    const letter = block[i] ?? "";
    if (letter < "A" || letter > "Z") return fail(GrblError.ExpectedCommandLetter);
    const number = readNumber(block, i + 1);
    if (!number) return fail(GrblError.BadNumberFormat);
    i = number.next;
    if (letter === "G" || letter === "M") {
      const int = Math.trunc(number.value);
      const group = (letter === "G" ? G_GROUPS : M_GROUPS)[int];
      if (group === undefined) return fail(GrblError.UnsupportedCommand);
      if (Math.round(100 * (number.value - int)) !== 0) return fail(GrblError.CommandValueNotInteger);
      if (groups.has(group)) {
        // A second motion command trips GRBL's axis-command check before its modal-group check.
        return fail(group === "motion" ? GrblError.AxisCommandConflict : GrblError.ModalGroupViolation);
      }
      groups.add(group);
      (letter === "G" ? gCodes : mCodes).push(int);
    } else if (VALUE_WORDS.includes(letter)) {
      if (values.has(letter)) return fail(GrblError.WordRepeated);
      if ("FNPST".includes(letter) && number.value < 0) return fail(GrblError.NegativeValue);
      values.set(letter, number.value);
    } else {
      // GRBL knows more words (I J K R L H D for arcs, G10, ...): the simulator runs no block that uses them.
      return fail(GrblError.UnsupportedCommand);
    }
  }

  const modal: ModalState = { ...current };
  for (const g of gCodes) {
    if (g === 0 || g === 1) modal.motion = g;
    else if (g === 17 || g === 18 || g === 19) modal.plane = g;
    else if (g === 20 || g === 21) modal.units = g;
    else if (g === 90 || g === 91) modal.distance = g;
  }
  const scale = modal.units === 20 ? MM_PER_INCH : 1;
  const feed = values.get("F");
  if (feed !== undefined) modal.feedRate = feed * scale;
  const speed = values.get("S");
  if (speed !== undefined) modal.spindleSpeed = speed;
  const tool = values.get("T");
  if (tool !== undefined) modal.tool = Math.trunc(tool);
  for (const m of mCodes) {
    if (m === 3 || m === 4 || m === 5) modal.spindle = m;
    else if (m === 7) modal.mist = true;
    else if (m === 8) modal.flood = true;
    else if (m === 9) modal.mist = modal.flood = false;
  }

  const steps: GcodeStep[] = [];
  const dwell = gCodes.includes(4);
  const p = values.get("P");
  if (dwell) {
    if (p === undefined) return fail(GrblError.ValueWordMissing);
    steps.push({ kind: "dwell", seconds: p });
  } else if (p !== undefined) {
    return fail(GrblError.UnusedWords);
  }

  const axisWords = [...AXES].filter((axis) => values.has(axis));
  const motionCommand = groups.has("motion") || axisWords.length > 0;
  let target: Vec3 = [...planned];
  if (motionCommand) {
    if (modal.motion === 1 && modal.feedRate === 0) return fail(GrblError.UndefinedFeedRate);
    target = planned.map((from, axis) => {
      const value = values.get(AXES[axis] ?? "");
      if (value === undefined) return from;
      return modal.distance === 91 ? from + value * scale : value * scale;
    }) as Vec3;
    if (axisWords.length > 0) {
      steps.push({ kind: "move", rapid: modal.motion === 0, target, feedRate: modal.feedRate });
    }
  }

  if (mCodes.includes(0) || mCodes.includes(1)) steps.push({ kind: "pause" });
  if (mCodes.includes(2) || mCodes.includes(30)) {
    // Program end resets these modes (LinuxCNC/NIST convention, as GRBL does); F and S are kept.
    Object.assign(modal, { motion: 1, plane: 17, distance: 90, spindle: 5, mist: false, flood: false });
    steps.push({ kind: "end" });
  }
  return { ok: true, modal, target, steps };
}

/**
 * `$G`'s answer for a modal state, e.g. `[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]`. F is in mm/min
 * even under G20: GRBL converts it only when reporting in inches ($13=1).
 */
export function formatModal(modal: ModalState): string {
  const coolant = modal.mist || modal.flood ? [modal.mist ? "M7" : "", modal.flood ? "M8" : ""] : ["M9"];
  const words = [
    `G${modal.motion}`,
    "G54",
    `G${modal.plane}`,
    `G${modal.units}`,
    `G${modal.distance}`,
    "G94",
    `M${modal.spindle}`,
    ...coolant.filter(Boolean),
    `T${modal.tool}`,
    `F${Math.round(modal.feedRate)}`,
    `S${Math.round(modal.spindleSpeed)}`,
  ];
  return `[GC:${words.join(" ")}]`;
}
