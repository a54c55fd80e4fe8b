const defaultDelaysMs = [100, 250, 500, 1000, 2000];

/**
 * Reconnects a serial driver after a disconnect: tries `connect` with growing delays (capped at the
 * last) until it succeeds or `stop` is called; after a failed try it runs `cleanup` (close the half-
 * opened port). One loop at a time, however many disconnects are reported; `stop` ends a loop
 * asleep in its backoff at once.
 */
export class Reconnector {
  private running = false;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly connect: () => Promise<void>,
    private readonly cleanup: () => Promise<void>,
    private readonly delaysMs: readonly number[] = defaultDelaysMs,
  ) {}

  start(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    void this.loop().finally(() => (this.running = false));
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  private async loop(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt += 1) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.delaysMs[Math.min(attempt, this.delaysMs.length - 1)]);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      if (this.stopped) return;
      try {
        await this.connect();
        return;
      } catch {
        await this.cleanup().catch(() => undefined);
      }
    }
  }
}
