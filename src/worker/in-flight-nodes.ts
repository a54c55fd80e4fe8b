import type { NodeJobData } from "../engine/index.js";

/**
 * The node executions under way in this process, by run, epoch and node. When Redis stalls for
 * longer than a job's lock, BullMQ's stall check hands the job to another slot of the same device
 * while the first still runs it; the second waits for the first to end and then begins as usual,
 * so it finds the node completed (or failed, or queued for a retry) instead of running it again.
 */
export class InFlightNodes {
  private readonly running = new Map<string, Promise<void>>();

  /** Runs `body` once any execution of the same node in this process has ended. */
  async exclusive<T>(data: NodeJobData, body: () => Promise<T>): Promise<T> {
    const key = `${data.runId}|${data.epoch}|${data.nodeId}`;
    for (let prior = this.running.get(key); prior; prior = this.running.get(key)) await prior;
    let release = () => undefined as void;
    this.running.set(key, new Promise<void>((resolve) => (release = resolve)));
    try {
      return await body();
    } finally {
      this.running.delete(key);
      release();
    }
  }
}
