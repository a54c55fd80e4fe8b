import { endedRunStatuses, isRigflowError, type Engine, type RunEvent } from "../../engine/index.js";
import { errorBody } from "../http-error.js";
import type { LiveEvents } from "./live-events.js";
import { RunFollower } from "./run-follower.js";

export interface SseTuning {
  /** A comment line this often keeps proxies and idle timers from closing a quiet stream. */
  keepAliveMs: number;
  /**
   * Bytes written but not yet taken by the connection: a live event finding more than this
   * pending cuts the client; a catch-up (the replay) waits until less is pending.
   */
  maxPendingBytes: number;
  /** Over maxPendingBytes with nothing taken for this long, the client counts as not reading. */
  stallMs: number;
  /** At shutdown, how long a stream has to finish sending before its connection is cut. */
  closeGraceMs: number;
}

export const defaultSseTuning: SseTuning = {
  keepAliveMs: 15_000,
  maxPendingBytes: 1024 * 1024,
  stallMs: 30_000,
  closeGraceMs: 1000,
};

/** Where a session writes: Hono's SSE stream over the HTTP response (see routes/run-events.ts). */
export interface SseSink {
  /** Resolves once the connection has taken the text (or the stream is gone); never rejects. */
  write(text: string): Promise<unknown>;
  /** Ends the response after what was written. */
  close(): Promise<unknown>;
  /** Cuts the connection at once: a client that does not read would never see an orderly end. */
  destroy(): void;
  /** Resolves once the response is out or the connection gone. */
  finished(): Promise<void>;
}

/** The events after which a run has nothing more to say, unless it is resumed. */
const endTypes: ReadonlySet<string> = new Set(["pipeline_completed", "pipeline_error", "pipeline_cancelled"]);

/**
 * One Server-Sent Events stream of one run: replays its events after `after`, goes live with no
 * gap and no duplicate (a RunFollower), and ends after the run's end event. A keep-alive comment
 * goes out every `keepAliveMs`. The replay waits for the client to read (it sends while less than
 * `maxPendingBytes` is pending); a client that does not read is cut off: live, once a write finds
 * over `maxPendingBytes` pending (the largest pending write aside); otherwise once over it with
 * nothing taken for `stallMs`.
 */
export class SseSession {
  private readonly follower: RunFollower;
  private pendingBytes = 0;
  /** The size of each write not yet taken, oldest first (the connection takes them in order). */
  private readonly pendingWrites: number[] = [];
  /** When the connection last took a write, or a write was made with nothing pending. */
  private progressAt = 0;
  /** A catch-up waiting for the client to take what is pending. */
  private drained: (() => void)[] = [];
  private stallTimer: NodeJS.Timeout | undefined;
  /** The type of the last end or pipeline_resumed event sent. */
  private lastTurn: string | undefined;
  private ended = false;
  private keepAlive: NodeJS.Timeout | undefined;
  private unfollow: () => void = () => undefined;
  private finish: () => void = () => undefined;
  private readonly done = new Promise<void>((resolve) => (this.finish = resolve));

  constructor(
    engine: Pick<Engine, "runs">,
    private readonly live: LiveEvents,
    private readonly sink: SseSink,
    readonly runId: string,
    after: string | undefined,
    private readonly tuning: SseTuning,
  ) {
    this.follower = new RunFollower(engine, runId, after, {
      emit: (event, isLive) => this.emit(event, isLive),
      overflow: () => this.cut(),
      ready: () => this.ready(),
    });
  }

  /** Resolves once the stream is over: the run ended, the client went, or the server is closing. */
  async run(): Promise<void> {
    if (this.ended) return;
    // Listen before the replay reads, so that nothing falls between the two.
    this.unfollow = this.live.follow(this.runId, (event) => this.follower.deliver(event));
    this.keepAlive = setInterval(() => this.keepAliveTick(), this.tuning.keepAliveMs);
    this.keepAlive.unref();
    try {
      const started = await this.follower.start();
      // Nothing is left once the replay has reached the run's end (a later end or resume would
      // have come live): its last end event not followed by a resume, or, for a run that had
      // ended when the replay began, no resume among what the replay sent (its end may have been
      // before `after`, or the events expired; a late node_progress may follow the end).
      if (
        started &&
        ((this.lastTurn !== undefined && endTypes.has(this.lastTurn)) ||
          (this.lastTurn === undefined && endedRunStatuses.has(started.status)))
      ) {
        this.end();
      }
    } catch (error) {
      const body = isRigflowError(error)
        ? errorBody(error.code, error.message, error.details)
        : errorBody("REDIS_UNAVAILABLE", `could not read run '${this.runId}': ${(error as Error).message}`, {
            run_id: this.runId,
          });
      this.write(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
      this.end();
    }
    await this.done;
  }

  /** Ends the stream after what it has sent; cuts it if the client has not read that in time. */
  async shutdown(): Promise<void> {
    this.end();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), this.tuning.closeGraceMs);
      timer.unref();
    });
    if (await Promise.race([this.sink.finished().then(() => false), late])) this.sink.destroy();
    clearTimeout(timer);
  }

  /** The client went away. */
  abandon(): void {
    this.stop();
  }

  private emit(event: RunEvent, isLive: boolean): void {
    if (endTypes.has(event.type) || event.type === "pipeline_resumed") this.lastTurn = event.type;
    this.write(`id: ${event.event_id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    if (isLive && endTypes.has(event.type)) this.end();
  }

  /**
   * Writes, counting the bytes until the connection takes them. A client with over
   * maxPendingBytes waiting, not counting the largest write among them, is cut instead: one event
   * bigger than the limit is no cut by itself, and a catch-up never cuts (it waits in ready()).
   */
  private write(text: string): void {
    if (this.ended) return;
    const max = this.tuning.maxPendingBytes;
    if (this.pendingBytes > max && this.pendingBytes - Math.max(...this.pendingWrites) > max) {
      return this.cut();
    }
    const bytes = Buffer.byteLength(text);
    if (this.pendingBytes === 0) this.progressAt = Date.now();
    this.pendingBytes += bytes;
    this.pendingWrites.push(bytes);
    void this.sink.write(text).then(() => this.taken(bytes));
  }

  private taken(bytes: number): void {
    this.pendingBytes -= bytes;
    this.pendingWrites.shift();
    this.progressAt = Date.now();
    if (this.pendingBytes < this.tuning.maxPendingBytes) this.release();
  }

  /** For the follower's catch-ups: undefined to go on, or a promise that resolves once under the limit. */
  private ready(): Promise<void> | undefined {
    if (this.ended || this.pendingBytes < this.tuning.maxPendingBytes) return undefined;
    this.watchStall();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  /** While a catch-up waits, cuts the client once nothing has been taken for stallMs. */
  private watchStall(): void {
    if (this.stallTimer) return;
    const check = () => {
      this.stallTimer = undefined;
      if (this.ended || this.drained.length === 0) return;
      const idle = Date.now() - this.progressAt;
      if (idle >= this.tuning.stallMs) return this.cut();
      this.stallTimer = setTimeout(check, this.tuning.stallMs - idle);
      this.stallTimer.unref();
    };
    this.stallTimer = setTimeout(check, Math.max(0, this.tuning.stallMs - (Date.now() - this.progressAt)));
    this.stallTimer.unref();
  }

  private release(): void {
    const drained = this.drained;
    this.drained = [];
    for (const resolve of drained) resolve();
  }

  /** A comment keeps the connection alive; with data pending, that data does, and a stall is cut. */
  private keepAliveTick(): void {
    if (this.pendingBytes === 0) return this.write(": keep-alive\n\n");
    if (
      this.pendingBytes > this.tuning.maxPendingBytes &&
      Date.now() - this.progressAt >= this.tuning.stallMs
    ) {
      this.cut();
    }
  }

  /** The orderly end: what was written goes out, then the response ends. */
  private end(): void {
    if (!this.stop()) return;
    void this.sink.close();
  }

  /** A client that does not read is cut off rather than held in memory. */
  private cut(): void {
    if (!this.stop()) return;
    this.sink.destroy();
  }

  private stop(): boolean {
    if (this.ended) return false;
    this.ended = true;
    this.follower.stop();
    this.unfollow();
    clearInterval(this.keepAlive);
    clearTimeout(this.stallTimer);
    this.release();
    this.finish();
    return true;
  }
}
