// Line noise for a serial simulator: a garbled line has one bit flipped in one of its bytes (its
// newline included), as a burst on a UART does. Which lines are garbled, and where, follows from
// the seed, the line's text and how many times that same text went by before: not from timing, so
// a run does not change with how many busy lines happened to be sent before a given line.

export interface NoiseOptions {
  /** The chance that a line is garbled, from 0 to 1. */
  probability: number;
  seed: number;
}

/** A fault a test places: the next line that matches gets byte `at(line)` XORed with `mask`. */
export interface Fault {
  match: RegExp;
  /** The byte to garble, as an index into the line (its newline is the last byte). */
  at: (line: string) => number;
  /** Default 0x01. */
  mask?: number;
}

export interface Garbling {
  clean: string;
  garbled: string;
  index: number;
}

export class LineNoise {
  /** Every line garbled, in order. */
  readonly log: Garbling[] = [];
  private readonly seen = new Map<string, number>();
  private readonly faults: Fault[] = [];

  constructor(
    /** What the log says this direction is, e.g. "host->firmware". */
    readonly direction: string,
    private options: NoiseOptions | undefined,
  ) {}

  /** From now on, garbles lines with this chance (a line that breaks, or heals, mid-test). */
  setProbability(probability: number): void {
    this.options = { seed: this.options?.seed ?? 0, probability };
  }

  /** Garbles the next line that matches `fault.match`, once. */
  add(fault: Fault): void {
    this.faults.push(fault);
  }

  /** A line as it arrives on the other side: `line` ends with its newline. */
  pass(line: string): string {
    const occurrence = this.seen.get(line) ?? 0;
    this.seen.set(line, occurrence + 1);
    const index = this.faults.findIndex((f) => f.match.test(line));
    const placed = index === -1 ? undefined : this.faults.splice(index, 1)[0];
    if (placed) return this.flip(line, placed.at(line), placed.mask ?? 0x01);
    if (!this.options) return line;
    const random = mulberry32(fnv1a(`${this.options.seed}\u0000${line}\u0000${occurrence}`));
    if (random() >= this.options.probability) return line;
    return this.flip(line, Math.floor(random() * line.length), 1 << Math.floor(random() * 8));
  }

  /** The garbled lines, readable, for a failure message. */
  describe(): string {
    const show = (text: string) => JSON.stringify(text).replace(/\\u00([0-9a-f]{2})/g, "\\x$1");
    const lines = this.log.map((g) => `  ${show(g.clean)} -> ${show(g.garbled)} (byte ${g.index})`);
    return `${this.direction}: ${this.log.length} lines garbled${lines.length ? `:\n${lines.join("\n")}` : ""}`;
  }

  private flip(line: string, index: number, mask: number): string {
    const i = Math.max(0, Math.min(index, line.length - 1));
    const garbled = line.slice(0, i) + String.fromCharCode(line.charCodeAt(i) ^ mask) + line.slice(i + 1);
    this.log.push({ clean: line, garbled, index: i });
    return garbled;
  }
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** A small seeded PRNG (public domain), uniform in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
