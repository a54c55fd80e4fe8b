import type { RunEvent } from "../../engine/index.js";

export type LiveListener = (event: RunEvent) => void;

/**
 * The process's live events, fanned out: the one EventTail publishes here, and the WebSocket hub
 * (every event) and each SSE stream (one run's) listen. A listener that throws is reported and
 * does not cost the others the event.
 */
export class LiveEvents {
  private readonly everything = new Set<LiveListener>();
  private readonly byRun = new Map<string, Set<LiveListener>>();

  constructor(private readonly onError: (error: unknown) => void = () => undefined) {}

  /** Every event of every run; returns the function that stops it. */
  subscribe(listener: LiveListener): () => void {
    this.everything.add(listener);
    return () => this.everything.delete(listener);
  }

  /** One run's events; returns the function that stops it. */
  follow(runId: string, listener: LiveListener): () => void {
    let listeners = this.byRun.get(runId);
    if (!listeners) this.byRun.set(runId, (listeners = new Set()));
    listeners.add(listener);
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.byRun.get(runId) === listeners) this.byRun.delete(runId);
    };
  }

  publish(event: RunEvent): void {
    for (const listener of this.everything) this.call(listener, event);
    const listeners = this.byRun.get(event.run_id);
    if (listeners) for (const listener of listeners) this.call(listener, event);
  }

  /** How many listeners there are, for tests and a leak check. */
  get size(): number {
    let count = this.everything.size;
    for (const listeners of this.byRun.values()) count += listeners.size;
    return count;
  }

  private call(listener: LiveListener, event: RunEvent): void {
    try {
      listener(event);
    } catch (error) {
      this.onError(error);
    }
  }
}
