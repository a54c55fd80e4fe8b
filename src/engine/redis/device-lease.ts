import type { Redis } from "ioredis";
import type { RedisKeys } from "./keys.js";
import { loadScripts } from "./scripts.js";

/** The fields of a device's record besides its holder, as GET /api/devices reads them. */
export interface DeviceRecord {
  device_id: string;
  driver: string;
  status: "idle" | "busy" | "offline" | "error";
  active: number;
  /** JSON: the commands running, as "run/node: function". */
  current: string;
  capacity: number;
  last_seen_at: string;
  /** The last device fault, while the status is "error". */
  fault: string;
}

/**
 * Device leases in Redis. A worker that hosts a device holds its lease, and the lease is the
 * device's record: taking, renewing and reporting are one atomic write, so the API never shows a
 * worker as a device's owner unless that worker holds it.
 */
export class DeviceLeaseStore {
  private readonly scripts;

  constructor(
    redis: Redis,
    private readonly keys: RedisKeys,
  ) {
    this.scripts = loadScripts(redis);
  }

  /** Takes or renews the lease and writes the record; returns the worker holding the lease. */
  async hold(workerId: string, record: DeviceRecord, leaseMs: number): Promise<string> {
    const fields = Object.entries(record).flatMap(([field, value]) => [field, value as string | number]);
    return (await this.scripts["device-lease-hold"](
      [this.keys.device(record.device_id)],
      [workerId, leaseMs, ...fields],
    )) as string;
  }

  /** Releases the lease if this worker holds it; returns whether it did. */
  async release(workerId: string, deviceId: string): Promise<boolean> {
    return (await this.scripts["device-lease-release"]([this.keys.device(deviceId)], [workerId])) === 1;
  }
}
