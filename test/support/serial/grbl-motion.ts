// The planner and steppers of the GRBL simulator: straight moves queued in a bounded planner and run
// one after the other at constant speed, and the homing cycle. Starts and stops are instant, which
// keeps move times exact for tests; only a feed hold decelerates (at `acceleration`), because a
// host must see GRBL's Hold:1 (still moving) before Hold:0. Time is passed in (real milliseconds);
// the machine says how motion may go: running, decelerating for a hold, or stopped.
import type { Vec3 } from "./grbl-gcode.js";

export type MotionMode = "run" | "hold" | "stopped";

export interface MotionOptions {
  /** G0 speed and the axes' maximum rate, mm/min. */
  rapidRate: number;
  /** Deceleration of a feed hold, mm/s^2. */
  acceleration: number;
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
  /** While a feed hold decelerates: the speed now, mm per real ms. */
  private holdSpeed: number | undefined;

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

  /** The rate in mm/min now (what FS reports): the running block's, or a hold's as it slows down. */
  currentRate(): number {
    if (this.holdSpeed === undefined || this.planner.length === 0) return this.fullRate();
    return (this.holdSpeed / this.opts.timeScale) * 60_000;
  }

  /** The running block's rate in mm/min, 0 when none. */
  private fullRate(): number {
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
    this.holdSpeed = undefined;
  }

  /** A feed hold begins: from the speed now, motion slows down along the planned path. */
  startHold(): void {
    this.holdSpeed = this.planner.length > 0 ? this.speed() : 0;
  }

  /** True once a hold's deceleration has ended: stopped, or out of path (GRBL's hold complete). */
  get holdStopped(): boolean {
    return this.holdSpeed === undefined || this.holdSpeed <= 0 || this.planner.length === 0;
  }

  /** The hold is over (resumed, or reset): blocks left run at their full speed again. */
  endHold(): void {
    this.holdSpeed = undefined;
  }

  /** Real ms until the running block, the hold's deceleration or the homing cycle ends. */
  timeToNextEvent(mode: MotionMode): number {
    if (this.homing) return Math.max(0, this.homingMs() - this.homing.elapsed);
    const block = this.planner[0];
    if (!block || mode === "stopped") return Infinity;
    const left = block.length - block.done;
    if (mode === "run") return left / this.speed();
    const v = this.holdSpeed ?? 0;
    const a = this.deceleration();
    const discriminant = v * v - 2 * a * left;
    // The block's end, if it comes before the stop (v t - a t^2 / 2 = left), else the stop.
    return discriminant >= 0 ? Math.min(v / a, (v - Math.sqrt(discriminant)) / a) : v / a;
  }

  integrate(h: number, mode: MotionMode): void {
    const block = this.planner[0];
    if (this.homing) {
      this.homing.elapsed = Math.min(this.homingMs(), this.homing.elapsed + h);
      const f = this.homingMs() > 0 ? this.homing.elapsed / this.homingMs() : 1;
      this.position = lerp(this.homing.from, [0, 0, 0], f);
    } else if (mode !== "stopped" && block) {
      let distance = this.speed() * h;
      if (mode === "hold") {
        const v = this.holdSpeed ?? 0;
        const a = this.deceleration();
        const t = Math.min(h, v / a);
        distance = v * t - (a * t * t) / 2;
        this.holdSpeed = Math.max(0, v - a * h);
        if (this.holdSpeed < 1e-12) this.holdSpeed = 0;
      }
      const left = block.length - block.done;
      block.done = distance >= left - 1e-9 ? block.length : block.done + distance;
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

  /** mm per real ms, at the running block's full rate. */
  private speed(): number {
    return (this.fullRate() / 60_000) * this.opts.timeScale;
  }

  /** A hold's deceleration, mm per real ms^2. */
  private deceleration(): number {
    return (this.opts.acceleration / 1e6) * this.opts.timeScale ** 2;
  }
}
