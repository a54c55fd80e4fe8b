/**
 * The API alone in a process (`startApi`, as `npm run api` starts it), so that its memory can be
 * read from /proc without the clients', the worker's or the bench's in it.
 */
import { pino } from "pino";
import { startApi } from "../src/api/server.js";
import type { DeviceConfig } from "../src/drivers/types.js";
import { defaultLimits } from "../src/engine/index.js";
import { childConfig, runChild } from "./child-side.js";
import { clockDriver } from "./clock-driver.js";

interface Config {
  redisUrl: string;
  prefix: string;
  devices: DeviceConfig[];
}

runChild("bench api", async () => {
  const config = childConfig<Config>();
  const api = await startApi({
    redisUrl: config.redisUrl,
    prefix: config.prefix,
    port: 0,
    host: "127.0.0.1",
    maxBodyBytes: 1024 * 1024,
    limits: defaultLimits,
    devices: config.devices,
    drivers: [clockDriver],
    log: pino({ level: "warn" }),
  });
  return { ready: { port: api.port }, close: () => api.close() };
});
