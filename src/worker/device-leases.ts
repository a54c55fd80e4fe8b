import type { Logger } from "pino";
import type { DeviceLeaseStore, DeviceRecord } from "../engine/index.js";

/** How often a held lease is renewed, and a refused one asked for again. */
export const leaseRenewMs = 1000;
/** A lease not renewed for this long (on the lease clock) lapses: a dead worker's devices are free again. */
export const leaseMs = 4000;
/** A change of activity is written within this time; changes in between are written once. */
const changeFlushMs = 100;
/** How often the holder checks that it may still drive its devices (see mayDrive). */
const watchMs = 100;
/** A watch that comes this late means this process was frozen (SIGSTOP, a long GC pause, a paused VM). */
const frozenAfterMs = 300;
/** How much sooner than Redis the holder gives a lease up, for scheduling and clock drift. */
const leaseMarginMs = 500;

export interface LeasedDevice {
  id: string;
  driver: string;
  capacity: number;
  active(): number;
  /** The commands running now, as "run/node: function". */
  current(): string[];
  state(): DeviceRecord["status"];
  /** The last device fault, while state() is "error". */
  fault(): string;
  /** This worker now holds the lease, with this fencing token: open the device and serve its queue. */
  acquired(fence: string): void;
  /** This worker no longer holds the lease (or cannot tell): stop its commands now, stop serving. */
  lost(holder: string): void;
}

/**
 * Holds this worker's leases on the devices it is configured with, and keeps each device's record
 * (status, what it runs) current: a device's record is written with its lease (see
 * device-lease-hold.lua). A device another live worker holds is refused with an error in the log
 * and asked for again every second, so this worker takes it over when that worker stops or dies.
 * Activity changes are coalesced: a busy device running many short commands costs one write per
 * 100 ms, not two per command.
 *
 * A holder must stop driving before another worker can take a device over. Redis lets a lease lapse
 * only after `leaseMs` on its lease clock without a renewal; the holder gives it up sooner by its own
 * clock when it cannot know that its renewals landed: when it was frozen itself, or when its link to
 * Redis is down. While the link is up and Redis merely slow (a stalled Redis runs no lease clock
 * either), renewals in flight will land first, so it keeps driving.
 */
export class DeviceLeases {
  private heartbeat: NodeJS.Timeout | undefined;
  private watch: NodeJS.Timeout | undefined;
  private flush: NodeJS.Timeout | undefined;
  private lastWatch = performance.now();
  private readonly changed = new Set<LeasedDevice>();
  private readonly writing = new Set<Promise<void>>();
  /** The devices held, with their fencing token and until when (by this process's clock) for sure. */
  private readonly held = new Map<LeasedDevice, { fence: string; sureUntil: number }>();
  /** The holder each refused device was last refused for, so a refusal is logged once per holder. */
  private readonly refusedFor = new Map<LeasedDevice, string>();
  private stopped = false;

  constructor(
    private readonly store: DeviceLeaseStore,
    private readonly workerId: string,
    private readonly devices: readonly LeasedDevice[],
    private readonly log: Logger,
    /** Whether this worker's connection to Redis is up. */
    private readonly linkUp: () => boolean,
  ) {}

  /** Asks for every lease once (so refusals are logged before the worker says it is ready), then keeps them. */
  async start(): Promise<void> {
    await this.write(this.devices);
    this.heartbeat = setInterval(() => void this.write(this.devices).catch(() => undefined), leaseRenewMs);
    this.lastWatch = performance.now();
    this.watch = setInterval(() => this.checkLeases(), watchMs);
  }

  /** The devices another worker holds, with that worker's id. */
  refused(): Map<string, string> {
    return new Map([...this.refusedFor].map(([device, holder]) => [device.id, holder]));
  }

  /**
   * Whether this worker may still act on the device: it holds the lease for sure, or its renewals
   * are on their way over a live link and it has not been frozen. Checked synchronously before each
   * step a driver takes, so a worker that wakes from a freeze takes none before it has stopped.
   */
  mayDrive(device: LeasedDevice): boolean {
    const lease = this.held.get(device);
    if (!lease) return false;
    const now = performance.now();
    if (now < lease.sureUntil) return true;
    return now - this.lastWatch < frozenAfterMs && this.linkUp();
  }

  /** Notes that a device's activity changed; it is written soon, together with other changes. */
  changedActivity(device: LeasedDevice): void {
    if (!this.held.has(device)) return;
    this.changed.add(device);
    this.flush ??= setTimeout(() => {
      this.flush = undefined;
      const devices = [...this.changed];
      this.changed.clear();
      void this.write(devices).catch(() => undefined);
    }, changeFlushMs);
  }

  /**
   * Stops renewing, lets a write in flight land, then releases the leases: the devices show
   * offline at once and another worker may take them. Call it after the devices are closed.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearInterval(this.watch);
    clearTimeout(this.flush);
    await Promise.allSettled([...this.writing]);
    await Promise.all([...this.held.keys()].map((device) => this.store.release(this.workerId, device.id)));
    this.held.clear();
  }

  /** Gives up, here, every lease this worker can no longer be sure of (see the class comment). */
  private checkLeases(): void {
    const now = performance.now();
    const frozen = now - this.lastWatch >= frozenAfterMs;
    this.lastWatch = now;
    if (!frozen && this.linkUp()) return;
    for (const [device, lease] of this.held) {
      if (now < lease.sureUntil) continue;
      this.held.delete(device);
      this.log.error(
        { deviceId: device.id },
        frozen
          ? `this worker was frozen for longer than its lease on device '${device.id}': stopping its commands`
          : `lost Redis for longer than the lease on device '${device.id}': stopping its commands`,
      );
      device.lost("");
    }
  }

  private write(devices: readonly LeasedDevice[]): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const writing = Promise.all(devices.map((device) => this.hold(device)))
      .then(() => undefined)
      .finally(() => this.writing.delete(writing));
    this.writing.add(writing);
    return writing;
  }

  private async hold(device: LeasedDevice): Promise<void> {
    const sentAt = performance.now();
    const { holder, fence } = await this.store.hold(this.workerId, record(device), leaseMs);
    if (this.stopped) return;
    if (holder === this.workerId) {
      const sureUntil = sentAt + leaseMs - leaseMarginMs;
      // An answer that took longer than the lease (this process was frozen while it was on its
      // way) says nothing about now: the next renewal will.
      if (performance.now() >= sureUntil) return;
      const lease = this.held.get(device);
      if (lease?.fence === fence) {
        lease.sureUntil = sureUntil;
        return;
      }
      // A new fence: another worker held the device in between, so every write of ours under the old
      // one would be refused. Start afresh.
      if (lease) device.lost(holder);
      this.held.set(device, { fence, sureUntil });
      if (this.refusedFor.delete(device))
        this.log.info({ deviceId: device.id }, "took over the device's lease");
      device.acquired(fence);
      return;
    }
    if (this.held.delete(device)) {
      this.log.error(
        { deviceId: device.id, holder },
        `lost the lease on device '${device.id}' to worker '${holder}'; stopping its commands, no longer serving it`,
      );
      device.lost(holder);
    } else if (this.refusedFor.get(device) !== holder) {
      this.log.error(
        { deviceId: device.id, holder },
        `device '${device.id}' is already hosted by worker '${holder}', whose lease on it is live: ` +
          "this worker does not open it. Leave it out of WORKER_DEVICES here, or stop that worker " +
          "(this worker takes the device over when that worker's lease lapses).",
      );
    }
    this.refusedFor.set(device, holder);
  }
}

function record(device: LeasedDevice): DeviceRecord {
  return {
    device_id: device.id,
    driver: device.driver,
    status: device.state(),
    active: device.active(),
    current: JSON.stringify(device.current()),
    capacity: device.capacity,
    last_seen_at: new Date().toISOString(),
    fault: device.fault(),
  };
}
