import { Gauge, type Registry } from "prom-client";
import type { Engine, RunStatusCounts } from "../../engine/index.js";
import { jobStates, type QueueInspector } from "../../queues/index.js";

const deviceStates = ["idle", "busy", "offline", "error"] as const;

/**
 * The figures read from Redis when /metrics is scraped: runs by status, every queue's jobs by state,
 * and each device's state. Being read at scrape time, they are the same whichever API instance
 * answers.
 */
export class ScrapeMetrics {
  private readonly runs: Gauge<"status">;
  private readonly runsWaiting: Gauge;
  private readonly queueJobs: Gauge<"queue" | "state">;
  private readonly queuePaused: Gauge<"queue">;
  private readonly deviceStatus: Gauge<"device_id" | "status">;
  private readonly deviceActive: Gauge<"device_id">;

  constructor(
    registry: Registry,
    private readonly engine: Engine,
    private readonly queues: QueueInspector,
    private readonly runCounts: RunStatusCounts,
  ) {
    const registers = [registry];
    this.runs = new Gauge({
      name: "rigflow_runs",
      help: "Runs in each status (queued, running, paused, held, completed, failed, cancelled), from the runs index",
      labelNames: ["status"],
      registers,
    });
    this.runsWaiting = new Gauge({
      name: "rigflow_runs_waiting",
      help: "Runs with an approval node waiting for a person (counted among the running runs too)",
      registers,
    });
    this.queueJobs = new Gauge({
      name: "rigflow_queue_jobs",
      help: "Jobs in each BullMQ queue (runs, device-<id>) by state; a paused queue's waiting jobs count as paused",
      labelNames: ["queue", "state"],
      registers,
    });
    this.queuePaused = new Gauge({
      name: "rigflow_queue_paused",
      help: "1 while the queue is paused (POST /api/queues/{name}/pause), else 0",
      labelNames: ["queue"],
      registers,
    });
    this.deviceStatus = new Gauge({
      name: "rigflow_device_status",
      help: "1 for the state each device of the devices file is in (idle, busy, offline, error), 0 for the others",
      labelNames: ["device_id", "status"],
      registers,
    });
    this.deviceActive = new Gauge({
      name: "rigflow_device_active_commands",
      help: "Commands each device is running now, as its hosting worker last reported (0 when offline)",
      labelNames: ["device_id"],
      registers,
    });
  }

  /** Reads everything first and sets the gauges after, so a failed read leaves no half-set figures. */
  async refresh(): Promise<void> {
    const [runs, waiting, queues, devices] = await Promise.all([
      this.runCounts.counts(),
      this.runCounts.waiting(),
      this.queues.overview(),
      this.engine.devices(),
    ]);
    for (const [status, count] of Object.entries(runs)) this.runs.set({ status }, count);
    this.runsWaiting.set(waiting);
    this.queueJobs.reset();
    this.queuePaused.reset();
    for (const queue of queues) {
      for (const state of jobStates) this.queueJobs.set({ queue: queue.name, state }, queue.counts[state]);
      this.queuePaused.set({ queue: queue.name }, queue.paused ? 1 : 0);
    }
    this.deviceStatus.reset();
    this.deviceActive.reset();
    for (const device of devices) {
      for (const status of deviceStates) {
        this.deviceStatus.set({ device_id: device.deviceId, status }, device.status === status ? 1 : 0);
      }
      this.deviceActive.set({ device_id: device.deviceId }, device.active);
    }
  }
}
