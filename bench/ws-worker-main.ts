/** A worker process hosting the bench's clock devices (a driver the registry does not have). */
import { pino } from "pino";
import type { DeviceConfig } from "../src/drivers/types.js";
import { startWorker } from "../src/worker/worker.js";
import { childConfig, runChild } from "./child-side.js";
import { clockDriver } from "./clock-driver.js";

interface Config {
  redisUrl: string;
  prefix: string;
  devices: DeviceConfig[];
}

runChild("bench worker", async () => {
  const config = childConfig<Config>();
  const worker = await startWorker({
    redisUrl: config.redisUrl,
    prefix: config.prefix,
    devices: config.devices,
    drivers: new Map([[clockDriver.name, clockDriver]]),
    log: pino({ level: "warn" }),
    shutdownGraceMs: 1000,
  });
  return { ready: { workerId: worker.workerId }, close: () => worker.close() };
});
