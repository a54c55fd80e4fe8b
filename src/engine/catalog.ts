import type { z } from "zod";
import type { RetryPolicy } from "./pipeline/retry.js";

/** What the engine needs to know of a driver function; drivers' own specs satisfy it. */
export interface FunctionContract {
  id: string;
  description: string;
  params: z.ZodObject;
  outputs: Record<string, string>;
  idempotent: boolean;
  /** Can be held mid-command while its worker is unsure of its lease (see drivers' FunctionSpec). */
  pausable?: boolean;
  timeoutMs: number;
  retry: RetryPolicy;
}

export interface DeviceEntry {
  id: string;
  driver: string;
  capacity: number;
}

/** The devices a deployment has and the functions of their drivers, as the devices file says. */
export interface DeviceCatalog {
  devices(): readonly DeviceEntry[];
  device(id: string): DeviceEntry | undefined;
  drivers(): readonly { name: string; description: string; functions: readonly FunctionContract[] }[];
  functionOf(driver: string, functionId: string): FunctionContract | undefined;
}

export function createCatalog(
  devices: readonly DeviceEntry[],
  drivers: Iterable<{ name: string; description: string; functions: readonly FunctionContract[] }>,
): DeviceCatalog {
  const byId = new Map(devices.map((device) => [device.id, device]));
  const driverList = [...drivers];
  const functions = new Map(
    driverList.flatMap((driver) => driver.functions.map((fn) => [`${driver.name}/${fn.id}`, fn] as const)),
  );
  return {
    devices: () => devices,
    device: (id) => byId.get(id),
    drivers: () => driverList,
    functionOf: (driver, functionId) => functions.get(`${driver}/${functionId}`),
  };
}
