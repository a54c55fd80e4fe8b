import type { Logger } from "pino";
import type { DeviceLeaseStore, DeviceRecord } from "../engine/index.js";

/** How often a held lease is renewed, and a refused one asked for again. */
export const leaseRenewMs = 1000;
/** A lease not renewed for this long lapses: a dead worker's devices are free again after it. */
export const leaseMs = 4000;
/** A change of activity is written within this time; changes in between are written once. */
const changeFlushMs = 100;

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
  /** This worker now holds the lease: open the device and serve its queue. */
  acquired(): void;
  /** Another worker holds the lease now: stop serving the device. */
  lost(holder: string): void;
}

/**
 * Holds this worker's leases on the devices it is configured with, and keeps each device's record
 * (status, what it runs) current: a device's record is its lease (see device-lease-hold.lua). A
 * device another live worker holds is refused with an error in the log and asked for again every
 * second, so this worker takes it over when that worker stops or dies. Activity changes are
 * coalesced: a busy device running many short commands costs one write per 100 ms, not two per
 * command.
 */
export class DeviceLeases {
  private heartbeat: NodeJS.Timeout | undefined;
  private flush: NodeJS.Timeout | undefined;
  private readonly changed = new Set<LeasedDevice>();
  private readonly writing = new Set<Promise<void>>();
  private readonly held = new Set<LeasedDevice>();
  /** The holder each refused device was last refused for, so a refusal is logged once per holder. */
  private readonly refusedFor = new Map<LeasedDevice, string>();
  private stopped = false;

  constructor(
    private readonly store: DeviceLeaseStore,
    private readonly workerId: string,
    private readonly devices: readonly LeasedDevice[],
    private readonly log: Logger,
  ) {}

  /** Asks for every lease once (so refusals are logged before the worker says it is ready), then keeps them. */
  async start(): Promise<void> {
    await this.write(this.devices);
    this.heartbeat = setInterval(() => void this.write(this.devices).catch(() => undefined), leaseRenewMs);
  }

  /** The devices another worker holds, with that worker's id. */
  refused(): Map<string, string> {
    return new Map([...this.refusedFor].map(([device, holder]) => [device.id, holder]));
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
    clearTimeout(this.flush);
    await Promise.allSettled([...this.writing]);
    await Promise.all([...this.held].map((device) => this.store.release(this.workerId, device.id)));
    this.held.clear();
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
    const holder = await this.store.hold(this.workerId, record(device), leaseMs);
    if (this.stopped) return;
    if (holder === this.workerId) {
      if (this.held.has(device)) return;
      this.held.add(device);
      if (this.refusedFor.delete(device))
        this.log.info({ deviceId: device.id }, "took over the device's lease");
      device.acquired();
      return;
    }
    if (this.held.delete(device)) {
      this.log.error(
        { deviceId: device.id, holder },
        `lost the lease on device '${device.id}' to worker '${holder}'; no longer serving it`,
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
