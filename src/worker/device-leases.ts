import type { Logger } from "pino";
import type { DeviceLeaseStore, DeviceRecord } from "../engine/index.js";

/** How often a held lease is renewed, and a refused one asked for again. */
export const leaseRenewMs = 1000;
/** A lease not renewed for this long (on the lease clock) lapses: a dead worker's devices are free again. */
export const leaseMs = 4000;
/** A change of activity is written within this time; changes in between are written once. */
const changeFlushMs = 100;
/** How often the holder checks that it may still drive its devices (see checkLeases). */
const watchMs = 100;
/** A watch that comes this late means this process was frozen (SIGSTOP, a long GC pause, a paused VM). */
const frozenAfterMs = 300;
/** How much sooner than Redis the holder gives a lease up, for scheduling and clock drift. */
const leaseMarginMs = 500;
/**
 * How long a worker whose renewals are answered too late to use (a link slower than the lease
 * each round trip) leaves a device alone before it asks for it again, so that another worker can
 * take it.
 */
const standDownMs = 10_000;

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
  /**
   * This worker cannot tell whether it still holds the lease, though its link to Redis seems up
   * (renewals unanswered: Redis stalled, or the link drops packets silently). Commands that cannot
   * pause stop now; pausable ones hold the device (their drivers check mayDrive) until it is sure
   * again or lost.
   */
  inDoubt(): void;
  /** This worker no longer holds the lease (or cannot know it still does): stop its commands now, stop serving. */
  lost(holder: string): void;
}

/** A worker's hold on one device, as the commands it runs there see it. */
export interface DeviceHold {
  /** Sure, now, that no other worker may drive the device. */
  mayDrive(): boolean;
  /** Resolves true once mayDrive() is (the lease was confirmed), false if the lease is lost or `signal` aborts. */
  untilMayDrive(signal: AbortSignal): Promise<boolean>;
  /** Still holding the lease, sure of it or not. */
  held(): boolean;
}

interface HeldLease {
  fence: string;
  /** Until when, by this process's clock, no other worker can hold the lease. */
  sureUntil: number;
  /** Past sureUntil over a link that seems up: inDoubt() was called, and drivers hold the device. */
  inDoubt: boolean;
  /** Commands waiting in untilMayDrive(). */
  waiters: Set<(mayDrive: boolean) => void>;
  /** While in doubt: since when renewals have been answered, but too late to use. */
  staleSince: number | undefined;
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
 * only after `leaseMs` on its lease clock without a renewal landing; the holder is sure of it only
 * until `leaseMs - leaseMarginMs` after it sent the last renewal that landed. Past that:
 * - when it was frozen itself, or its link to Redis is down, it gives the lease up (lost()): its
 *   renewals cannot have landed;
 * - when its link seems up, it cannot tell a stalled Redis (which runs no lease clock, so the lease
 *   holds) from a link that silently drops packets (the lease lapses, and a standby takes the device).
 *   So it holds the device (inDoubt()): commands pause, or stop if they cannot, until a renewal
 *   lands (drive on) or is refused, or the link drops (lost()). Renewals that keep landing too
 *   late to use (a round trip longer than the margin) for `leaseMs` mean a link too slow to drive
 *   over: it gives the device up and leaves it alone for `standDownMs`, so that another worker
 *   can take it.
 */
export class DeviceLeases {
  private heartbeat: NodeJS.Timeout | undefined;
  private watch: NodeJS.Timeout | undefined;
  private flush: NodeJS.Timeout | undefined;
  private lastWatch = performance.now();
  private readonly changed = new Set<LeasedDevice>();
  private readonly writing = new Set<Promise<void>>();
  /** The devices held, with their fencing token and until when (by this process's clock) for sure. */
  private readonly held = new Map<LeasedDevice, HeldLease>();
  /** Devices this worker leaves alone until the time given: its renewals came back too late to use. */
  private readonly standingDown = new Map<LeasedDevice, number>();
  /** Grants in a row that came back too late to use, of devices this worker asks for. */
  private readonly staleAsks = new Map<LeasedDevice, number>();
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
    // Not while the link is down: ioredis would queue every renewal until it is back, then send
    // them all, each already too old to say anything (see hold()).
    this.heartbeat = setInterval(() => {
      if (this.linkUp()) void this.write(this.devices).catch(() => undefined);
    }, leaseRenewMs);
    this.lastWatch = performance.now();
    this.watch = setInterval(() => this.checkLeases(), watchMs);
  }

  /** The devices another worker holds, with that worker's id. */
  refused(): Map<string, string> {
    return new Map([...this.refusedFor].map(([device, holder]) => [device.id, holder]));
  }

  /** The device's hold, for the commands this worker runs on it. */
  holdOf(device: LeasedDevice): DeviceHold {
    return {
      mayDrive: () => this.mayDrive(device),
      untilMayDrive: (signal) => this.untilMayDrive(device, signal),
      held: () => this.held.has(device),
    };
  }

  /**
   * Whether this worker is sure, now, that it holds the device's lease. Synchronous, by this
   * process's clock alone: a worker that wakes from a freeze past its lease takes no step before the
   * watch has noticed.
   */
  private mayDrive(device: LeasedDevice): boolean {
    const lease = this.held.get(device);
    return lease !== undefined && performance.now() < lease.sureUntil;
  }

  private untilMayDrive(device: LeasedDevice, signal: AbortSignal): Promise<boolean> {
    if (this.mayDrive(device)) return Promise.resolve(true);
    const lease = this.held.get(device);
    if (!lease || signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const settle = (mayDrive: boolean) => {
        lease.waiters.delete(settle);
        signal.removeEventListener("abort", onAbort);
        resolve(mayDrive);
      };
      const onAbort = () => settle(false);
      lease.waiters.add(settle);
      signal.addEventListener("abort", onAbort, { once: true });
    });
  }

  /** Notes that a device's activity changed; it is written soon, together with other changes. */
  changedActivity(device: LeasedDevice): void {
    if (!this.held.has(device)) return;
    this.changed.add(device);
    this.flush ??= setTimeout(() => {
      this.flush = undefined;
      // While the link is down the change waits: the first renewal after it is back writes it.
      if (!this.linkUp()) return;
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
    for (const lease of this.held.values()) settle(lease, false);
    this.held.clear();
  }

  /** Gives up every lease this worker can no longer hold for sure, and holds the devices of those in doubt. */
  private checkLeases(): void {
    const now = performance.now();
    const frozen = now - this.lastWatch >= frozenAfterMs;
    this.lastWatch = now;
    const linkUp = this.linkUp();
    for (const [device, lease] of this.held) {
      if (now < lease.sureUntil) continue;
      if (frozen || !linkUp) {
        this.drop(
          device,
          "",
          frozen
            ? `this worker was frozen for longer than its lease on device '${device.id}': stopping its commands`
            : `lost Redis for longer than the lease on device '${device.id}': stopping its commands`,
        );
      } else if (lease.staleSince !== undefined && now - lease.staleSince >= leaseMs) {
        this.drop(
          device,
          "",
          `renewals of the lease on device '${device.id}' come back too late to use (the link to Redis ` +
            `is slower than ${leaseMs - leaseMarginMs} ms a round trip): stopping its commands and ` +
            `leaving it to other workers for ${standDownMs / 1000} s`,
        );
        this.standDown(device);
      } else if (!lease.inDoubt) {
        lease.inDoubt = true;
        this.log.warn(
          { deviceId: device.id },
          `no renewal of the lease on device '${device.id}' answered for ${leaseMs - leaseMarginMs} ms ` +
            "(Redis stalled, or the link to it drops packets): holding the device until one is",
        );
        device.inDoubt();
      }
    }
  }

  /** Forgets a lease and stops the device's commands. */
  private drop(device: LeasedDevice, holder: string, why: string): void {
    const lease = this.held.get(device);
    if (!lease) return;
    this.held.delete(device);
    this.log.error({ deviceId: device.id, ...(holder && { holder }) }, why);
    settle(lease, false);
    device.lost(holder);
  }

  /**
   * A device this worker asks for, granted too late to use: once in a while after a freeze, but
   * every time over a link slower than the margin, where Redis would keep the device for a worker
   * that cannot drive it. Then it is let go of, for another worker.
   */
  private staleWhileAsking(device: LeasedDevice): void {
    const count = (this.staleAsks.get(device) ?? 0) + 1;
    this.staleAsks.set(device, count);
    if (count < leaseMs / leaseRenewMs) return;
    this.staleAsks.delete(device);
    this.log.error(
      { deviceId: device.id },
      `device '${device.id}': the link to Redis is too slow to hold a lease over (grants come back ` +
        `after more than ${leaseMs - leaseMarginMs} ms): leaving it to other workers for ${standDownMs / 1000} s`,
    );
    this.standDown(device);
  }

  /** Leaves the device alone for a while, and lets its lease go at once if Redis still gives it to this worker. */
  private standDown(device: LeasedDevice): void {
    this.standingDown.set(device, performance.now() + standDownMs);
    void this.store.release(this.workerId, device.id).catch(() => undefined);
  }

  private write(devices: readonly LeasedDevice[]): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const now = performance.now();
    const asking = devices.filter((device) => (this.standingDown.get(device) ?? 0) <= now);
    const writing = Promise.all(asking.map((device) => this.hold(device)))
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
      const lease = this.held.get(device);
      // An answer that took longer than the lease's margin (this process was frozen while it was
      // on its way, or the link is that slow) says nothing about now: the next renewal will.
      if (performance.now() >= sureUntil) {
        if (lease?.inDoubt) lease.staleSince ??= performance.now();
        else if (!lease) this.staleWhileAsking(device);
        return;
      }
      this.staleAsks.delete(device);
      if (lease?.fence === fence) {
        lease.sureUntil = sureUntil;
        lease.staleSince = undefined;
        if (lease.inDoubt) this.log.info({ deviceId: device.id }, "the lease renewal landed: driving on");
        lease.inDoubt = false;
        settle(lease, true);
        return;
      }
      // A new fence: another worker held the device in between, so every write of ours under the old
      // one would be refused. Start afresh.
      if (lease) {
        settle(lease, false);
        device.lost(holder);
      }
      this.held.set(device, { fence, sureUntil, inDoubt: false, waiters: new Set(), staleSince: undefined });
      if (this.refusedFor.delete(device))
        this.log.info({ deviceId: device.id }, "took over the device's lease");
      device.acquired(fence);
      return;
    }
    if (this.held.has(device)) {
      this.drop(
        device,
        holder,
        `lost the lease on device '${device.id}' to worker '${holder}'; stopping its commands, no longer serving it`,
      );
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

/** Wakes the commands waiting on a lease: they may drive on, or never. */
function settle(lease: HeldLease, mayDrive: boolean): void {
  for (const waiter of [...lease.waiters]) waiter(mayDrive);
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
