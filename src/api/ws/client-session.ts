import type { Principal } from "../access/index.js";
import WebSocket from "ws";
import { isRigflowError, type Engine, type RunEvent } from "../../engine/index.js";
import { RunFollower } from "../live/run-follower.js";
import { eventText } from "./event-text.js";
import { errorEvent, isProblem, parseClientMessage, type WsProblem } from "./messages.js";

export interface SessionLimits {
  /** Bytes the socket may hold unsent before the client counts as not reading and is closed. */
  maxBufferedBytes: number;
  maxSubscriptions: number;
  /** Messages a client may send in a second; past it: an error event, then close 1008. */
  maxMessagesPerSecond: number;
}

/** The close code for a client that sends more than it may (policy violation). */
export const floodCloseCode = 1008;

export const slowClientCloseCode = 1013;
/** How often a paused catch-up looks whether the client has taken enough to go on. */
const drainPollMs = 10;

/**
 * One WebSocket client: what it follows (every run until it first subscribes) and, per run it
 * subscribes to, a RunFollower, which replays the run's stream after `after` and then goes live
 * with no gap and no duplicate.
 */
export class ClientSession {
  alive = true;
  /** Who opened the connection (set on accept): closed once their session or token is gone. */
  principal: Principal | undefined;
  private narrowed = false;
  private closed = false;
  private readonly subscriptions = new Map<string, RunFollower>();
  /** This second's start and how many messages came in it: a fixed window, per connection. */
  private windowStart = 0;
  private windowCount = 0;

  constructor(
    readonly socket: WebSocket,
    private readonly engine: Engine,
    private readonly limits: SessionLimits,
  ) {}

  /** From now on only the runs subscribed to, none until then. */
  narrow(): void {
    this.narrowed = true;
  }

  /** A live event from the tail. */
  deliver(event: RunEvent): void {
    if (this.closed) return;
    if (!this.narrowed) {
      this.send(eventText(event));
      return;
    }
    this.subscriptions.get(event.run_id)?.deliver(event);
  }

  handleMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.closed) return;
    if (this.overRate()) return;
    const text = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const message = isBinary
      ? ({ code: "VALIDATION_FAILED", message: "send messages as JSON text frames" } satisfies WsProblem)
      : parseClientMessage(text);
    if (isProblem(message)) return this.sendError(message);
    if (message.action === "unsubscribe") {
      this.subscriptions.get(message.runId)?.stop();
      this.subscriptions.delete(message.runId);
      this.send(JSON.stringify({ type: "unsubscribed", run_id: message.runId }));
      return;
    }
    this.subscribe(message.runId, message.after);
  }

  /**
   * Whether this message is one too many for this second: then the client is told why and closed.
   * Each subscribe starts a replay; without a bound one connection could keep the process busy.
   */
  private overRate(): boolean {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowCount = 0;
    }
    this.windowCount += 1;
    if (this.windowCount <= this.limits.maxMessagesPerSecond) return false;
    this.sendError({
      code: "RATE_LIMITED",
      message: `over ${this.limits.maxMessagesPerSecond} messages a second on one connection; closing it`,
      details: { limit: this.limits.maxMessagesPerSecond },
    });
    this.socket.close(floodCloseCode, "too many messages");
    this.dispose();
    return true;
  }

  /** Follows a run from now, or from just after `after`; answers `subscribed` once live. */
  subscribe(runId: string, after?: string): void {
    if (!this.subscriptions.has(runId) && this.subscriptions.size >= this.limits.maxSubscriptions) {
      return this.sendError({
        code: "TOO_MANY_SUBSCRIPTIONS",
        message: `a connection may follow at most ${this.limits.maxSubscriptions} runs; unsubscribe from some first`,
        details: { limit: this.limits.maxSubscriptions, run_id: runId },
      });
    }
    this.narrowed = true;
    this.subscriptions.get(runId)?.stop();
    const follower = new RunFollower(this.engine, runId, after, {
      emit: (event) => this.send(eventText(event)),
      overflow: () => this.closeSlow("too many events held during a replay"),
      // A catch-up goes out as fast as the client takes it, however long: sent all at once, a
      // replay bigger than the send buffer's limit would close a client that reads just fine.
      ready: () => (this.roomToSend() ? undefined : this.drained()),
    });
    this.subscriptions.set(runId, follower);
    follower.start().then(
      (result) => {
        if (result)
          this.send(JSON.stringify({ type: "subscribed", run_id: runId, replayed: result.replayed }));
      },
      (error: unknown) => {
        if (this.subscriptions.get(runId) === follower) this.subscriptions.delete(runId);
        this.sendError(
          isRigflowError(error)
            ? { code: error.code, message: error.message, details: error.details }
            : {
                code: "REDIS_UNAVAILABLE",
                message: `could not subscribe to run '${runId}': ${(error as Error).message}`,
                details: { run_id: runId },
              },
        );
      },
    );
  }

  sendError(problem: WsProblem): void {
    this.send(errorEvent(problem));
  }

  dispose(): void {
    this.closed = true;
    for (const follower of this.subscriptions.values()) follower.stop();
    this.subscriptions.clear();
  }

  private send(text: string): void {
    if (this.closed || this.socket.readyState !== WebSocket.OPEN) return;
    if (this.socket.bufferedAmount > this.limits.maxBufferedBytes) {
      return this.closeSlow(`over ${this.limits.maxBufferedBytes} bytes waiting to be sent`);
    }
    this.socket.send(text);
  }

  private roomToSend(): boolean {
    return this.closed || this.socket.bufferedAmount <= this.limits.maxBufferedBytes / 2;
  }

  /**
   * Resolves once the socket has sent enough to go on, or has closed. The ws API has no drain
   * event, so it looks again every few ms; a client that never reads is dropped by the heartbeat
   * (it answers no ping), or closed once the live events held meanwhile overflow.
   */
  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const look = () => (this.roomToSend() ? resolve() : void setTimeout(look, drainPollMs));
      look();
    });
  }

  /** A client that does not read is closed rather than held in memory or allowed to slow the rest. */
  private closeSlow(why: string): void {
    this.dispose();
    this.socket.close(slowClientCloseCode, `client too slow: ${why}`);
    // A client that does not read will not read the close frame either.
    setTimeout(() => this.socket.terminate(), 1000).unref();
  }
}
