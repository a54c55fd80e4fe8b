import type { Redis } from "ioredis";
import { endedRunStatuses, type RunStatus } from "../run/types.js";
import { duplicateConnection } from "./connection.js";
import type { RedisKeys } from "./keys.js";

/** Waiters look at the status this often too, in case a notice was lost with a reconnect. */
const recheckMs = 2000;

/**
 * Waits for runs to end. `run-finish.lua` publishes the run's id when a run ends; one subscriber
 * connection serves every waiter of this process, so a waiter costs nothing while the run goes on.
 */
export class RunWatcher {
  private subscriber: Redis | undefined;
  private subscribed: Promise<unknown> | undefined;
  private readonly waiters = new Map<string, Set<() => void>>();
  private draining = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
  ) {}

  /** Resolves true once the run has ended (or does not exist), false when the time is up. */
  async waitForEnd(runId: string, timeoutMs: number): Promise<boolean> {
    await this.subscribe();
    const deadline = Date.now() + timeoutMs;
    let wake = () => undefined as void;
    const waiters = this.waiters.get(runId) ?? new Set();
    this.waiters.set(runId, waiters);
    try {
      for (;;) {
        const notified = new Promise<void>((resolve) => {
          wake = resolve;
          waiters.add(resolve);
        });
        // Subscribed before looking: an end that comes after this look is published to us.
        if (await this.ended(runId)) return true;
        if (this.draining) return false;
        const left = deadline - Date.now();
        if (left <= 0) return false;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          notified,
          new Promise((resolve) => (timer = setTimeout(resolve, Math.min(left, recheckMs)))),
        ]);
        clearTimeout(timer);
        waiters.delete(wake);
      }
    } finally {
      waiters.delete(wake);
      if (waiters.size === 0) this.waiters.delete(runId);
    }
  }

  /** The process is shutting down: every waiter, now and to come, is answered "not yet" at once. */
  stopWaiting(): void {
    this.draining = true;
    for (const waiters of this.waiters.values()) for (const wake of waiters) wake();
  }

  close(): void {
    this.subscriber?.disconnect();
    this.subscriber = undefined;
    this.subscribed = undefined;
  }

  private async ended(runId: string): Promise<boolean> {
    const status = (await this.redis.hget(this.keys.run(runId), "status")) as RunStatus | null;
    return status === null || endedRunStatuses.has(status);
  }

  private subscribe(): Promise<unknown> {
    if (!this.subscribed) {
      const subscriber = duplicateConnection(this.redis, { maxRetriesPerRequest: null });
      subscriber.on("error", () => undefined);
      subscriber.on("message", (_channel: string, runId: string) => {
        for (const wake of this.waiters.get(runId) ?? []) wake();
      });
      this.subscriber = subscriber;
      this.subscribed = subscriber.subscribe(this.keys.runEndedChannel);
    }
    return this.subscribed;
  }
}
