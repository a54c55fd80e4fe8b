// The simulated Marlin's motion: queued moves that each take a fixed time, the position along the
// way, and quickstop.

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

export const origin: Position = { x: 0, y: 0, z: 0 };
const stepsPerMm = { x: 80, y: 80, z: 400 };

export class MarlinMotion {
  relative = false;
  /** Where the steppers were when the last move in `moves` ended (or now, if none). */
  private actual: Position = { ...origin };
  /** Marlin's current_position: where the last queued move goes. M114 reports it. */
  private current: Position = { ...origin };
  private moves: Move[] = [];

  constructor(private readonly motionMs: number) {}

  /** Whether a move is under way or queued at `now`. */
  movingAt(now: number): boolean {
    this.settle(now);
    return this.moves.length > 0;
  }

  /** When the last queued move ends (`now` if none). */
  idleAt(now: number): number {
    return Math.max(now, this.moves.at(-1)?.end ?? now);
  }

  queue(words: Map<string, number>, now: number): void {
    const to = { ...this.current };
    for (const axis of ["x", "y", "z"] as const) {
      const value = words.get(axis.toUpperCase());
      if (value !== undefined) to[axis] = this.relative ? to[axis] + value : value;
    }
    this.settle(now);
    const start = this.idleAt(now);
    this.moves.push({ from: { ...this.current }, to, start, end: start + this.motionMs });
    this.current = to;
  }

  /** G28 done: at the origin. */
  homed(): void {
    this.moves = [];
    this.actual = { ...origin };
    this.current = { ...origin };
  }

  /** Stops now, keeping the position reached; M114 then reports it. */
  quickstop(now: number): void {
    const at = this.positionAt(now);
    this.moves = [];
    this.actual = at;
    this.current = { ...at };
  }

  /** M114's answer. */
  report(now: number): string {
    const at = this.positionAt(now);
    const { x, y, z } = this.current;
    const count = (axis: keyof Position) => Math.round(at[axis] * stepsPerMm[axis]);
    return `X:${x.toFixed(2)} Y:${y.toFixed(2)} Z:${z.toFixed(2)} E:0.00 Count X:${count("x")} Y:${count("y")} Z:${count("z")}`;
  }

  positionAt(now: number): Position {
    this.settle(now);
    const move = this.moves[0];
    if (!move || now <= move.start) return { ...this.actual };
    const f = (now - move.start) / (move.end - move.start);
    const along = (axis: keyof Position) => move.from[axis] + (move.to[axis] - move.from[axis]) * f;
    return { x: along("x"), y: along("y"), z: along("z") };
  }

  private settle(now: number): void {
    while (this.moves[0] && this.moves[0].end <= now) this.actual = (this.moves.shift() as Move).to;
  }
}
