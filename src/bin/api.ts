// `npm run api`: only the HTTP API, against REDIS_URL. Any number may run at once.
import { startApi } from "../api/server.js";
import { onShutdown } from "./shutdown.js";
import { requireRedisUrl, setup } from "./setup.js";

const { config, log, devices, drivers } = setup("rigflow-api");
const api = await startApi({
  redisUrl: requireRedisUrl(config.redisUrl),
  prefix: config.prefix,
  port: config.port,
  host: config.host,
  apiToken: config.apiToken,
  maxBodyBytes: config.maxBodyBytes,
  limits: config.limits,
  devices,
  drivers: drivers.values(),
  log,
});
onShutdown(log, [() => api.close()]);
