import { readFileSync } from "node:fs";
import { z } from "zod";
import type { DeviceConfig, DriverDefinition } from "../drivers/types.js";

const deviceSchema = z.looseObject({
  id: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
  driver: z.string().min(1),
  capacity: z.number().int().min(1).max(1000).default(1),
  path: z.string().optional(),
  baud_rate: z.number().int().positive().optional(),
  options: z.record(z.string(), z.unknown()).default({}),
});
const fileSchema = z.object({ devices: z.array(deviceSchema) });

/** Reads and checks the devices file; a mistake in it stops start-up with a message naming it. */
export function loadDevicesFile(
  path: string,
  drivers: ReadonlyMap<string, DriverDefinition>,
): DeviceConfig[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new Error(`devices file ${path}: ${(error as Error).message}`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`devices file ${path}: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  const seen = new Set<string>();
  return parsed.data.devices.map((device) => {
    if (seen.has(device.id)) throw new Error(`devices file ${path}: device '${device.id}' appears twice`);
    seen.add(device.id);
    if (!drivers.has(device.driver)) {
      throw new Error(
        `devices file ${path}: device '${device.id}' names driver '${device.driver}'; known: ${[...drivers.keys()].join(", ")}`,
      );
    }
    return {
      id: device.id,
      driver: device.driver,
      capacity: device.capacity,
      ...(device.path !== undefined && { path: device.path }),
      ...(device.baud_rate !== undefined && { baudRate: device.baud_rate }),
      options: device.options,
    };
  });
}

/** The devices this worker hosts: WORKER_DEVICES, or every device in the file. */
export function selectDevices(devices: DeviceConfig[], wanted: string[] | undefined): DeviceConfig[] {
  if (!wanted) return devices;
  const unknown = wanted.filter((id) => !devices.some((device) => device.id === id));
  if (unknown.length > 0) throw new Error(`WORKER_DEVICES names unknown devices: ${unknown.join(", ")}`);
  return devices.filter((device) => wanted.includes(device.id));
}
