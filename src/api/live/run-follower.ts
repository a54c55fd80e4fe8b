import {
  compareEventIds,
  RigflowError,
  type Engine,
  type RunEvent,
  type RunStatus,
} from "../../engine/index.js";

/** A replay reads the run's stream this many entries at a time. */
const replayPage = 1000;
/** Live events held for one run while its replay runs; a replay slower than this overflows. */
export const maxHeldEvents = 10_000;

export interface FollowerOptions {
  /** Called with each event to send, in order, once each; `live` is false for replayed ones. */
  emit(event: RunEvent, live: boolean): void;
  /** More than `maxHeld` live events arrived during the replay: the follower has stopped. */
  overflow(): void;
  maxHeld?: number;
}

/**
 * Follows one run for one client: replays its stream after `after` (if given), then goes live with
 * no gap and no duplicate. Live events are handed to `deliver` from before the replay starts; they
 * are held while it runs and then sent, except those at or before the last event sent (the replay
 * read them too). Used by the WebSocket sessions and the SSE streams alike.
 */
export class RunFollower {
  private pending = true;
  private stopped = false;
  private held: RunEvent[] = [];
  /** The newest event_id sent: live events at or before it are duplicates. */
  private lastId: string | undefined;

  constructor(
    private readonly engine: Pick<Engine, "runs">,
    readonly runId: string,
    private readonly after: string | undefined,
    private readonly options: FollowerOptions,
  ) {
    this.lastId = after;
  }

  /** A live event (of any run: others are ignored). */
  deliver(event: RunEvent): void {
    if (this.stopped || event.run_id !== this.runId) return;
    if (this.pending) {
      this.held.push(event);
      if (this.held.length > (this.options.maxHeld ?? maxHeldEvents)) {
        this.stop();
        this.options.overflow();
      }
      return;
    }
    this.emitInOrder(event);
  }

  /**
   * Replays, sends what was held, and goes live. Resolves with the run's status (as read before
   * the replay) and how many events were replayed, or null if stopped meanwhile; rejects with
   * RUN_NOT_FOUND for an unknown run, or with Redis's error.
   */
  async start(): Promise<{ status: RunStatus; replayed: number } | null> {
    const { status } = await this.engine.runs.control(this.runId);
    if (this.stopped) return null;
    if (status === null) {
      this.stop();
      throw new RigflowError("RUN_NOT_FOUND", `no run '${this.runId}'`, { run_id: this.runId });
    }
    let replayed = 0;
    if (this.after !== undefined) {
      let cursor = this.after;
      for (;;) {
        const page = await this.engine.runs.events(this.runId, cursor, replayPage);
        if (this.stopped) return null;
        for (const event of page) this.options.emit(event, false);
        replayed += page.length;
        const last = page[page.length - 1];
        if (last) this.lastId = cursor = last.event_id;
        if (page.length < replayPage) break;
      }
    }
    const held = this.held;
    this.held = [];
    this.pending = false;
    for (const event of held) this.emitInOrder(event);
    return { status, replayed };
  }

  get live(): boolean {
    return !this.pending && !this.stopped;
  }

  stop(): void {
    this.stopped = true;
    this.held = [];
  }

  private emitInOrder(event: RunEvent): void {
    if (this.stopped) return;
    if (this.lastId !== undefined && compareEventIds(event.event_id, this.lastId) <= 0) return;
    this.lastId = event.event_id;
    this.options.emit(event, true);
  }
}
