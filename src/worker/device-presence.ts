import type { Redis } from "ioredis";
import type { RedisKeys } from "../engine/index.js";

const heartbeatMs = 1000;
const expiryMs = 5000;
/** A change of activity is written within this time; changes in between are written once. */
const changeFlushMs = 100;

export interface PresentDevice {
  id: string;
  driver: string;
  capacity: number;
  active(): number;
  /** The commands running now, as "run/node: function". */
  current(): string[];
  state(): "idle" | "busy" | "offline" | "error";
}

/**
 * Tells the API which devices this worker hosts and what they are doing: a hash per device that
 * expires unless refreshed, so a device whose worker died shows offline within seconds. Activity
 * changes are coalesced: a busy device running many short commands costs one write per 100 ms,
 * not two per command.
 */
export class DevicePresence {
  private heartbeat: NodeJS.Timeout | undefined;
  private flush: NodeJS.Timeout | undefined;
  private readonly changed = new Set<PresentDevice>();
  private readonly writing = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly workerId: string,
    private readonly devices: readonly PresentDevice[],
  ) {}

  async start(): Promise<void> {
    await this.write(this.devices);
    this.heartbeat = setInterval(() => void this.write(this.devices).catch(() => undefined), heartbeatMs);
  }

  /** Notes that a device's activity changed; it is written soon, together with other changes. */
  changedActivity(device: PresentDevice): void {
    this.changed.add(device);
    this.flush ??= setTimeout(() => {
      this.flush = undefined;
      const devices = [...this.changed];
      this.changed.clear();
      void this.write(devices).catch(() => undefined);
    }, changeFlushMs);
  }

  /** Stops writing, lets a write in flight land, then removes the devices: they show offline at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    clearTimeout(this.flush);
    await Promise.allSettled([...this.writing]);
    if (this.devices.length > 0)
      await this.redis.del(...this.devices.map((device) => this.keys.device(device.id)));
  }

  private write(devices: readonly PresentDevice[]): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const writing = this.send(devices).finally(() => this.writing.delete(writing));
    this.writing.add(writing);
    return writing;
  }

  private async send(devices: readonly PresentDevice[]): Promise<void> {
    const seenAt = new Date().toISOString();
    // Sent back to back without a MULTI: each hash is written whole, and a lost expiry is redone
    // by the next heartbeat.
    await Promise.all(
      devices.flatMap((device) => {
        const key = this.keys.device(device.id);
        return [
          this.redis.hset(key, {
            device_id: device.id,
            driver: device.driver,
            worker_id: this.workerId,
            status: device.state(),
            active: device.active(),
            current: JSON.stringify(device.current()),
            capacity: device.capacity,
            last_seen_at: seenAt,
          }),
          this.redis.pexpire(key, expiryMs),
        ];
      }),
    );
  }
}
