import type { Engine } from "../../engine/index.js";
import { LiveEvents } from "./live-events.js";
import { defaultSseTuning, SseSession, type SseSink, type SseTuning } from "./sse-session.js";

/**
 * The process's Server-Sent Events streams: each follows one run from the live events the
 * process's EventTail publishes. Closing ends them all, so that the HTTP server can close.
 */
export class SseStreams {
  private readonly sessions = new Set<SseSession>();
  private closing = false;

  constructor(
    private readonly engine: Pick<Engine, "runs">,
    /** Without a tail publishing here (app.request() tests) a stream replays and then only waits. */
    private readonly live: LiveEvents = new LiveEvents(),
    readonly tuning: SseTuning = defaultSseTuning,
  ) {}

  /** Streams one run's events after `after` into `sink`; resolves once the stream is over. */
  async serve(
    sink: SseSink,
    runId: string,
    after: string | undefined,
    onAbandon: (abandon: () => void) => void,
  ): Promise<void> {
    if (this.closing) return;
    const session = new SseSession(this.engine, this.live, sink, runId, after, this.tuning);
    onAbandon(() => session.abandon());
    this.sessions.add(session);
    try {
      await session.run();
    } finally {
      this.sessions.delete(session);
    }
  }

  get count(): number {
    return this.sessions.size;
  }

  /** Ends every stream (a client's EventSource reconnects elsewhere with Last-Event-ID). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all([...this.sessions].map((session) => session.shutdown()));
  }
}
