import { isRigflowError, type Engine, type RunEvent } from "../../engine/index.js";
import { errorBody } from "../http-error.js";
import type { LiveEvents } from "./live-events.js";
import { RunFollower } from "./run-follower.js";

export interface SseTuning {
  /** A comment line this often keeps proxies and idle timers from closing a quiet stream. */
  keepAliveMs: number;
  /** Bytes written but not yet taken by the connection before the client counts as not reading. */
  maxPendingBytes: number;
  /** At shutdown, how long a stream has to finish sending before its connection is cut. */
  closeGraceMs: number;
}

export const defaultSseTuning: SseTuning = {
  keepAliveMs: 15_000,
  maxPendingBytes: 1024 * 1024,
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
 * goes out every `keepAliveMs`; a client over `maxPendingBytes` behind is cut off.
 */
export class SseSession {
  private readonly follower: RunFollower;
  private pendingBytes = 0;
  private lastType: string | undefined;
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
    });
  }

  /** Resolves once the stream is over: the run ended, the client went, or the server is closing. */
  async run(): Promise<void> {
    if (this.ended) return;
    // Listen before the replay reads, so that nothing falls between the two.
    this.unfollow = this.live.follow(this.runId, (event) => this.follower.deliver(event));
    this.keepAlive = setInterval(() => this.write(": keep-alive\n\n"), this.tuning.keepAliveMs);
    this.keepAlive.unref();
    try {
      const started = await this.follower.start();
      // Replayed up to the run's end (and nothing after it came while replaying): nothing is left.
      if (started && this.lastType !== undefined && endTypes.has(this.lastType)) this.end();
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
    this.lastType = event.type;
    this.write(`id: ${event.event_id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    if (isLive && endTypes.has(event.type)) this.end();
  }

  private write(text: string): void {
    if (this.ended) return;
    const bytes = Buffer.byteLength(text);
    if (this.pendingBytes + bytes > this.tuning.maxPendingBytes) return this.cut();
    this.pendingBytes += bytes;
    void this.sink.write(text).then(() => (this.pendingBytes -= bytes));
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
    this.finish();
    return true;
  }
}
