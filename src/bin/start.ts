// `npm start`: everything on one machine. An embedded Redis (AOF on, data under .data/) unless
// REDIS_URL is set, the API, and one worker hosting every device in the devices file.
import { join } from "node:path";
import { startApi } from "../api/server.js";
import { selectDevices } from "../infra/devices-file.js";
import { startRedisServer } from "../infra/redis-server.js";
import { startWorker } from "../worker/worker.js";
import { onShutdown } from "./shutdown.js";
import { setup } from "./setup.js";

const { config, log, devices, drivers } = setup("rigflow");
const closers: (() => Promise<void>)[] = [];
let redisUrl = config.redisUrl;
if (!redisUrl) {
  const redis = await startRedisServer({ dataDir: join(config.dataDir, "redis"), install: true });
  log.info({ url: redis.url, dataDir: join(config.dataDir, "redis") }, "embedded redis-server started");
  redisUrl = redis.url;
  closers.push(() => redis.stop());
}
const worker = await startWorker({
  redisUrl,
  prefix: config.prefix,
  devices: selectDevices(devices, config.workerDevices),
  drivers,
  log,
});
closers.unshift(() => worker.close());
const api = await startApi({
  redisUrl,
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
closers.unshift(() => api.close());
onShutdown(log, closers);
console.log(`Rigflow is up: http://localhost:${api.port}  (Redis ${redisUrl}; Ctrl-C stops everything)`);
