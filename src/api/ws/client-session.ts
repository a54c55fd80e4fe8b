import WebSocket from "ws";
import { compareEventIds, isRigflowError, type Engine, type RunEvent } from "../../engine/index.js";
import { errorEvent, isProblem, parseClientMessage, type WsProblem } from "./messages.js";

export interface SessionLimits {
  /** Bytes the socket may hold unsent before the client counts as not reading and is closed. */
  maxBufferedBytes: number;
  maxSubscriptions: number;
}

/** One run a client follows. While `pending`, live events wait in `buffer` (a replay is running). */
interface Subscription {
  pending: boolean;
  buffer: RunEvent[];
  /** The newest event_id sent for this run: live events at or before it are duplicates. */
  lastId: string | undefined;
}

/** A replay reads the run's stream this many entries at a time. */
const replayPage = 1000;
/** Live events held for one run while its replay runs; a replay slower than this closes the client. */
const maxBuffered = 10_000;
export const slowClientCloseCode = 1013;

/**
 * One WebSocket client: what it follows (every run until it first subscribes) and the catch-up of a
 * subscription with `after`, which replays the run's stream and then goes live with no gap and no
 * duplicate: live events of that run are held during the replay and those already replayed dropped.
 */
export class ClientSession {
  alive = true;
  private narrowed = false;
  private closed = false;
  private readonly subscriptions = new Map<string, Subscription>();

  constructor(
    readonly socket: WebSocket,
    private readonly engine: Engine,
    private readonly limits: SessionLimits,
  ) {}

  /** A live event from the tail. */
  deliver(event: RunEvent): void {
    if (this.closed) return;
    if (!this.narrowed) {
      this.send(JSON.stringify(event));
      return;
    }
    const subscription = this.subscriptions.get(event.run_id);
    if (!subscription) return;
    if (subscription.pending) {
      subscription.buffer.push(event);
      if (subscription.buffer.length > maxBuffered) this.closeSlow("too many events held during a replay");
      return;
    }
    this.sendInOrder(subscription, event);
  }

  handleMessage(data: WebSocket.RawData, isBinary: boolean): void {
    const text = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    const message = isBinary
      ? ({ code: "VALIDATION_FAILED", message: "send messages as JSON text frames" } satisfies WsProblem)
      : parseClientMessage(text);
    if (isProblem(message)) return this.sendError(message);
    if (message.action === "unsubscribe") {
      this.subscriptions.delete(message.runId);
      this.send(JSON.stringify({ type: "unsubscribed", run_id: message.runId }));
      return;
    }
    this.subscribe(message.runId, message.after);
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
    const subscription: Subscription = { pending: true, buffer: [], lastId: after };
    this.subscriptions.set(runId, subscription);
    this.catchUp(runId, subscription, after).catch((error: unknown) => {
      if (this.subscriptions.get(runId) === subscription) this.subscriptions.delete(runId);
      this.sendError(
        isRigflowError(error)
          ? { code: error.code, message: error.message, details: error.details }
          : {
              code: "REDIS_UNAVAILABLE",
              message: `could not subscribe to run '${runId}': ${(error as Error).message}`,
              details: { run_id: runId },
            },
      );
    });
  }

  sendError(problem: WsProblem): void {
    this.send(errorEvent(problem));
  }

  dispose(): void {
    this.closed = true;
    this.subscriptions.clear();
  }

  private async catchUp(runId: string, subscription: Subscription, after: string | undefined) {
    const current = () => !this.closed && this.subscriptions.get(runId) === subscription;
    const { status } = await this.engine.runs.control(runId);
    if (!current()) return;
    if (status === null) {
      this.subscriptions.delete(runId);
      return this.sendError({
        code: "RUN_NOT_FOUND",
        message: `no run '${runId}'`,
        details: { run_id: runId },
      });
    }
    let replayed = 0;
    if (after !== undefined) {
      let cursor = after;
      for (;;) {
        const page = await this.engine.runs.events(runId, cursor, replayPage);
        if (!current()) return;
        for (const event of page) this.send(JSON.stringify(event));
        replayed += page.length;
        const last = page[page.length - 1];
        if (last) subscription.lastId = cursor = last.event_id;
        if (page.length < replayPage) break;
      }
    }
    for (const event of subscription.buffer) this.sendInOrder(subscription, event);
    subscription.buffer = [];
    subscription.pending = false;
    this.send(JSON.stringify({ type: "subscribed", run_id: runId, replayed }));
  }

  private sendInOrder(subscription: Subscription, event: RunEvent): void {
    if (subscription.lastId !== undefined && compareEventIds(event.event_id, subscription.lastId) <= 0)
      return;
    subscription.lastId = event.event_id;
    this.send(JSON.stringify(event));
  }

  private send(text: string): void {
    if (this.closed || this.socket.readyState !== WebSocket.OPEN) return;
    if (this.socket.bufferedAmount > this.limits.maxBufferedBytes) {
      return this.closeSlow(`over ${this.limits.maxBufferedBytes} bytes waiting to be sent`);
    }
    this.socket.send(text);
  }

  /** A client that does not read is closed rather than held in memory or allowed to slow the rest. */
  private closeSlow(why: string): void {
    this.dispose();
    this.socket.close(slowClientCloseCode, `client too slow: ${why}`);
    // A client that does not read will not read the close frame either.
    setTimeout(() => this.socket.terminate(), 1000).unref();
  }
}
