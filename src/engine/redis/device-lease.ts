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
 * The most the lease clock advances between two calls (lease-clock.lua). Every worker renews or
 * asks for its leases every second, so while Redis serves the clock keeps pace with real time; a
 * stall of Redis itself moves it by this much only.
 */
const leaseClockMaxStepMs = 1500;

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

  /**
   * Takes or renews the lease and writes the record; returns the worker holding the lease and its
   * fencing token (larger for each new holder).
   */
  async hold(
    workerId: string,
    record: DeviceRecord,
    leaseMs: number,
  ): Promise<{ holder: string; fence: string }> {
    const fields = Object.entries(record).flatMap(([field, value]) => [field, value as string | number]);
    const [holder = "", fence = ""] = (await this.scripts["device-lease-hold"](
      [this.keys.device(record.device_id), this.keys.deviceLease(record.device_id), this.keys.leaseClock],
      [workerId, leaseMs, leaseClockMaxStepMs, ...fields],
    )) as [string, string | number];
    return { holder, fence: String(fence) };
  }

  /** Releases the lease if this worker holds it; returns whether it did. */
  async release(workerId: string, deviceId: string): Promise<boolean> {
    return (
      (await this.scripts["device-lease-release"](
        [this.keys.device(deviceId), this.keys.deviceLease(deviceId)],
        [workerId],
      )) === 1
    );
  }
}
