import type { Redis } from "ioredis";
import type { RedisKeys } from "../engine/index.js";

const heartbeatMs = 1000;
const expiryMs = 5000;

export interface PresentDevice {
  id: string;
  driver: string;
  capacity: number;
  active(): number;
  state(): "idle" | "busy" | "error";
}

/**
 * Tells the API which devices this worker hosts and what they are doing: a hash per device that
 * expires unless refreshed, so a device whose worker died shows offline within seconds.
 */
export class DevicePresence {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly workerId: string,
    private readonly devices: readonly PresentDevice[],
  ) {}

  start(): Promise<void> {
    this.timer = setInterval(() => void this.beat().catch(() => undefined), heartbeatMs);
    return this.beat();
  }

  /** Writes at once; called on every change of a device's activity as well as on the heartbeat. */
  async beat(): Promise<void> {
    const multi = this.redis.multi();
    for (const device of this.devices) {
      const key = this.keys.device(device.id);
      multi.hset(key, {
        device_id: device.id,
        driver: device.driver,
        worker_id: this.workerId,
        status: device.state(),
        active: device.active(),
        capacity: device.capacity,
        last_seen_at: new Date().toISOString(),
      });
      multi.pexpire(key, expiryMs);
    }
    await multi.exec();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.redis.del(...this.devices.map((device) => this.keys.device(device.id)));
  }
}
