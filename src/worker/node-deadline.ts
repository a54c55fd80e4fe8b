/**
 * A node's timeout that stands still while its command waits to be sure of the device (its worker
 * in doubt of the lease, a pausable command held): time a stalled Redis took is not the command's.
 */
export class NodeDeadline {
  private timer: NodeJS.Timeout | undefined;
  private leftMs: number;
  private armedAt = 0;
  private pauses = 0;
  private cleared = false;

  constructor(
    timeoutMs: number,
    private readonly onExpire: () => void,
  ) {
    this.leftMs = timeoutMs;
    this.arm();
  }

  /** Stops the clock until `during` settles. */
  async paused<T>(during: () => Promise<T>): Promise<T> {
    if (this.pauses++ === 0) {
      clearTimeout(this.timer);
      this.leftMs -= performance.now() - this.armedAt;
    }
    try {
      return await during();
    } finally {
      if (--this.pauses === 0) this.arm();
    }
  }

  clear(): void {
    this.cleared = true;
    clearTimeout(this.timer);
  }

  private arm(): void {
    if (this.cleared) return;
    this.armedAt = performance.now();
    this.timer = setTimeout(this.onExpire, Math.max(0, this.leftMs));
  }
}
