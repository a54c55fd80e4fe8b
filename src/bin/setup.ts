import { readConfig } from "../config.js";
import { drivers } from "../drivers/registry.js";
import { loadDevicesFile } from "../infra/devices-file.js";
import { createLogger } from "../log.js";

/** What every entry point starts from: the config, a logger, the drivers and the devices file. */
export function setup(name: string) {
  const config = readConfig();
  const log = createLogger(config.logLevel, name);
  const devices = loadDevicesFile(config.devicesFile, drivers);
  return { config, log, devices, drivers };
}

export function requireRedisUrl(url: string | undefined): string {
  if (!url)
    throw new Error(
      "REDIS_URL is not set: `npm run api` and `npm run worker` need a running Redis (npm start brings its own)",
    );
  return url;
}
