// The planner and steppers of the GRBL simulator: straight moves queued in a bounded planner and run
// one after the other at constant speed (no acceleration), and the homing cycle. Time is passed in
// (real milliseconds); the machine decides when motion may run (not while held).
import type { Vec3 } from "./grbl-gcode.js";

export interface MotionOptions {
  /** G0 speed and the axes' maximum rate, mm/min. */
  rapidRate: number;
  /** Simulated time per real time. */
  timeScale: number;
  plannerBlocks: number;
  /** Length of a homing cycle, simulated ms. */
  homingMs: number;
}

interface Block {
  from: Vec3;
  to: Vec3;
  length: number;
  done: number;
  rapid: boolean;
  feedRate: number;
}

const lerp = (from: Vec3, to: Vec3, f: number) => from.map((a, i) => a + ((to[i] ?? a) - a) * f) as Vec3;

export class GrblMotion {
  /** Machine position, mm. */
  position: Vec3 = [0, 0, 0];
  /** Realtime overrides, percent. */
  feedOverride = 100;
  rapidOverride = 100;
  private planner: Block[] = [];
  private homing: { from: Vec3; elapsed: number } | undefined;

  constructor(
    private readonly opts: MotionOptions,
    private readonly stepsPerMm: (axis: number) => number,
  ) {}

  /** Blocks in the planner, the running one included. */
  get queued(): number {
    return this.planner.length;
  }

  get homingActive(): boolean {
    return this.homing !== undefined;
  }

  /** The running block's rate in mm/min (what FS reports), 0 when none. */
  currentRate(): number {
    const block = this.planner[0];
    if (!block) return 0;
    const max = this.opts.rapidRate;
    if (block.rapid) return (max * this.rapidOverride) / 100;
    return Math.min(max, (block.feedRate * this.feedOverride) / 100);
  }

  /** Queues a move, rounded to whole steps as GRBL's planner does; false while the planner is full. */
  plan(target: Vec3, rapid: boolean, feedRate: number): boolean {
    if (this.planner.length >= this.opts.plannerBlocks) return false;
    const from = this.planner.at(-1)?.to ?? this.position;
    const to = target.map(
      (value, axis) => Math.round(value * this.stepsPerMm(axis)) / this.stepsPerMm(axis),
    ) as Vec3;
    const length = Math.hypot(to[0] - from[0], to[1] - from[1], to[2] - from[2]);
    if (length > 0) this.planner.push({ from: [...from], to, length, done: 0, rapid, feedRate });
    return true; // a block shorter than a step is dropped, as GRBL does
  }

  startHoming(): void {
    this.homing = { from: [...this.position], elapsed: 0 };
  }

  /** Stops everything where it is: the planner is emptied, a homing cycle dropped. */
  abort(): void {
    this.planner = [];
    this.homing = undefined;
  }

  /** Real ms until the running block or homing cycle ends; Infinity if nothing may run. */
  timeToNextEvent(running: boolean): number {
    if (this.homing) return Math.max(0, this.homingMs() - this.homing.elapsed);
    const block = this.planner[0];
    return running && block ? (block.length - block.done) / this.speed() : Infinity;
  }

  integrate(h: number, running: boolean): void {
    const block = this.planner[0];
    if (this.homing) {
      this.homing.elapsed = Math.min(this.homingMs(), this.homing.elapsed + h);
      const f = this.homingMs() > 0 ? this.homing.elapsed / this.homingMs() : 1;
      this.position = lerp(this.homing.from, [0, 0, 0], f);
    } else if (running && block) {
      const speed = this.speed();
      block.done = h >= (block.length - block.done) / speed ? block.length : block.done + speed * h;
      this.position = lerp(block.from, block.to, block.done / block.length);
    }
  }

  /** Ends what has finished: drops completed blocks; returns true when a homing cycle completed. */
  settle(): boolean {
    for (let block = this.planner[0]; block && block.done >= block.length; block = this.planner[0]) {
      this.position = [...block.to];
      this.planner.shift();
    }
    if (!this.homing || this.homing.elapsed < this.homingMs()) return false;
    this.homing = undefined;
    this.position = [0, 0, 0];
    return true;
  }

  private homingMs(): number {
    return this.opts.homingMs / this.opts.timeScale;
  }

  /** mm per real ms. */
  private speed(): number {
    return (this.currentRate() / 60_000) * this.opts.timeScale;
  }
}
