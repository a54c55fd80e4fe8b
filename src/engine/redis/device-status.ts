import type { Redis } from "ioredis";
import type { DeviceCatalog } from "../catalog.js";
import type { DeviceRecord } from "./device-lease.js";
import type { RedisKeys } from "./keys.js";
import type { QueueSet } from "./queues.js";

export interface DeviceStatus {
  deviceId: string;
  driver: string;
  status: "idle" | "busy" | "offline" | "error";
  /** While the status is "error": the device fault that put it there. */
  errorMessage: string | null;
  capacity: number;
  active: number;
  /** What it is doing: "run/node: function" for each command running. */
  current: string[];
  queueDepth: number;
  workerId: string | null;
  lastSeenAt: string | null;
  reservedBy: string | null;
}

/**
 * Each device of the catalog as its hosting worker last reported it; no report means offline. The
 * report is the hosting worker's lease (device-lease.ts), so it lapses when the worker dies.
 */
export async function readDeviceStatuses(
  redis: Redis,
  keys: RedisKeys,
  queues: QueueSet,
  catalog: DeviceCatalog,
): Promise<DeviceStatus[]> {
  const devices = catalog.devices();
  const pipeline = redis.pipeline();
  for (const device of devices) pipeline.hgetall(keys.device(device.id));
  if (devices.length > 0) pipeline.hmget(keys.deviceReservations, ...devices.map((device) => device.id));
  const rows = (await pipeline.exec()) ?? [];
  const reservedBy = (rows[devices.length]?.[1] ?? []) as (string | null)[];
  const depths = await Promise.all(
    devices.map((device) => queues.device(device.id).getJobCountByTypes("waiting", "delayed", "prioritized")),
  );
  return devices.map((device, index) => {
    const presence = (rows[index]?.[1] ?? {}) as Partial<Record<keyof DeviceRecord | "worker_id", string>>;
    const online = presence.worker_id !== undefined;
    const status = online ? (presence.status as DeviceStatus["status"]) : "offline";
    return {
      deviceId: device.id,
      driver: device.driver,
      status,
      errorMessage: status === "error" ? presence.fault || null : null,
      capacity: device.capacity,
      active: online ? Number(presence.active ?? 0) : 0,
      current: online && presence.current ? (JSON.parse(presence.current) as string[]) : [],
      queueDepth: depths[index] ?? 0,
      workerId: presence.worker_id ?? null,
      lastSeenAt: presence.last_seen_at ?? null,
      reservedBy: reservedBy[index] ?? null,
    };
  });
}
