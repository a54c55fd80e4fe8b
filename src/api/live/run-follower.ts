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
  /**
   * Backpressure for catch-ups (the replay, the held events, a re-read after a gap): asked before
   * each such event is emitted; when it returns a promise, the follower waits for it (the client
   * has taken enough of what was sent) before emitting. Live events are emitted at once. Without
   * it a catch-up emits a whole page at a time (the WebSocket sessions, whose socket buffers).
   */
  ready?(): Promise<void> | undefined;
}

/**
 * Where the process's live events had a gap: the event tail fell behind the global stream's cap,
 * and entries after `lastId` (a global stream id, the last the tail read) were trimmed unread.
 */
export interface LiveGap {
  lastId: string;
}

/** How far before the gap a follower that had sent nothing yet re-reads its run's stream. */
const gapMarginMs = 1000n;

/** The followers started over each RunStore (one per engine, so one per API process), for resync. */
const registries = new WeakMap<object, Set<RunFollower>>();

/**
 * After a gap in the live events, makes every follower over `runs` (the engine's RunStore) read
 * its run's stream again from the last event it sent: the run's own stream still has what the
 * global one lost. Resolves once they have caught up, with how many followers there were and how
 * many could not read (those go live again without the missed events).
 */
export async function resyncFollowers(
  runs: object,
  gap: LiveGap,
): Promise<{ followers: number; failed: number }> {
  const followers = [...(registries.get(runs) ?? [])];
  const results = await Promise.allSettled(followers.map((follower) => follower.resync(gap)));
  return { followers: followers.length, failed: results.filter((r) => r.status === "rejected").length };
}

/**
 * Follows one run for one client: replays its stream after `after` (if given), then goes live with
 * no gap and no duplicate. Live events are handed to `deliver` from before the replay starts; they
 * are held while it runs and then sent, except those at or before the last event sent (the replay
 * read them too). After a gap in the live events (resyncFollowers) it holds live events again,
 * re-reads its run's stream from the last event it sent, and goes live the same way. Used by the
 * WebSocket sessions and the SSE streams alike.
 */
export class RunFollower {
  /** Catching up (replay, held events, a re-read): live events are held meanwhile. */
  private pending = true;
  private stopped = false;
  private held: RunEvent[] = [];
  /** The newest event_id sent: live events at or before it are duplicates. */
  private lastId: string | undefined;
  /** A gap was reported while catching up: read the run's stream again from here (or lastId). */
  private gapFrom: string | undefined;
  /** The catch-up under way, for a resync that joins it. */
  private catchingUp: Promise<unknown> = Promise.resolve();
  private readonly registry: Set<RunFollower>;

  constructor(
    private readonly engine: Pick<Engine, "runs">,
    readonly runId: string,
    private readonly after: string | undefined,
    private readonly options: FollowerOptions,
  ) {
    this.lastId = after;
    let registry = registries.get(engine.runs);
    if (!registry) registries.set(engine.runs, (registry = new Set()));
    this.registry = registry;
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
    this.emitInOrder(event, true);
  }

  /**
   * Replays, sends what was held, and goes live. Resolves with the run's status (as read before
   * the replay) and how many events were replayed, or null if stopped meanwhile; rejects with
   * RUN_NOT_FOUND for an unknown run, or with Redis's error (the follower has then stopped).
   */
  async start(): Promise<{ status: RunStatus; replayed: number } | null> {
    if (this.stopped) return null;
    // From now on a gap in the live events concerns this follower too.
    this.registry.add(this);
    try {
      const { status } = await this.engine.runs.control(this.runId);
      if (this.stopped) return null;
      if (status === null) {
        throw new RigflowError("RUN_NOT_FOUND", `no run '${this.runId}'`, { run_id: this.runId });
      }
      const catchUp = this.catchUp(this.after, false);
      this.catchingUp = catchUp;
      const replayed = await catchUp;
      return replayed === null ? null : { status, replayed };
    } catch (error) {
      this.stop();
      throw error;
    }
  }

  /**
   * The live events had a gap: holds them again, re-reads the run's stream from the last event
   * sent (or, having sent none, from about where the gap began), and goes live again. A follower
   * still catching up reads again before it goes live. Rejects with Redis's error, the follower
   * then going live without what it missed.
   */
  resync(gap: LiveGap): Promise<unknown> {
    if (this.stopped) return Promise.resolve();
    this.gapFrom ??= beforeGap(gap);
    if (this.pending) return this.catchingUp;
    this.pending = true;
    this.catchingUp = this.catchUp(undefined, true).catch((error: unknown) => {
      this.goLive();
      throw error;
    });
    return this.catchingUp;
  }

  get live(): boolean {
    return !this.pending && !this.stopped;
  }

  stop(): void {
    this.stopped = true;
    this.held = [];
    this.registry.delete(this);
  }

  /**
   * Reads the run's stream after `cursor` (none: no read), again after each gap reported
   * meanwhile, then sends the held live events, and goes live. Resolves with how many events the
   * reads sent, or null if stopped meanwhile.
   */
  private async catchUp(cursor: string | undefined, readLive: boolean): Promise<number | null> {
    let sent = 0;
    for (;;) {
      if (cursor !== undefined) {
        for (;;) {
          const page = await this.engine.runs.events(this.runId, cursor, replayPage);
          if (this.stopped) return null;
          for (const event of page) {
            const wait = this.options.ready?.();
            if (wait) await wait;
            if (this.stopped) return null;
            if (this.emitInOrder(event, readLive)) sent += 1;
          }
          const last = page[page.length - 1];
          if (last) cursor = last.event_id;
          if (page.length < replayPage) break;
        }
        cursor = undefined;
      }
      if (this.gapFrom !== undefined) {
        // Events may be missing after the last one sent: the run's own stream has them.
        cursor = this.lastId ?? this.gapFrom;
        this.gapFrom = undefined;
        continue;
      }
      if (this.held.length === 0) break;
      // Held events are in order; more may be held while these are sent, after them.
      const held = this.held;
      this.held = [];
      for (const event of held) {
        const wait = this.options.ready?.();
        if (wait) await wait;
        if (this.stopped) return null;
        this.emitInOrder(event, true);
      }
    }
    this.pending = false;
    return sent;
  }

  /** After a failed re-read: sends what was held and goes live, without what was missed. */
  private goLive(): void {
    const held = this.held;
    this.held = [];
    this.gapFrom = undefined;
    this.pending = false;
    for (const event of held) this.emitInOrder(event, true);
  }

  /** Sends an event newer than the last one sent; true if it did. */
  private emitInOrder(event: RunEvent, live: boolean): boolean {
    if (this.stopped) return false;
    if (this.lastId !== undefined && compareEventIds(event.event_id, this.lastId) <= 0) return false;
    this.lastId = event.event_id;
    this.options.emit(event, live);
    return true;
  }
}

/**
 * Where a follower that has sent nothing re-reads from after a gap: a while before the last global
 * entry read, so as to include every run event written after it (a run stream id and its global
 * entry's id are taken in the same script, but their sequence parts are unrelated).
 */
function beforeGap(gap: LiveGap): string {
  const ms = BigInt(gap.lastId.split("-")[0] ?? "0");
  return `${ms > gapMarginMs ? ms - gapMarginMs : 0n}-0`;
}
