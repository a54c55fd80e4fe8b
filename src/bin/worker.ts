// `npm run worker`: a worker hosting WORKER_DEVICES (default: every device in the file).
import { selectDevices } from "../infra/devices-file.js";
import { startWorker } from "../worker/worker.js";
import { onShutdown } from "./shutdown.js";
import { requireRedisUrl, setup } from "./setup.js";

const { config, log, devices, drivers } = setup("rigflow-worker");
const worker = await startWorker({
  redisUrl: requireRedisUrl(config.redisUrl),
  prefix: config.prefix,
  devices: selectDevices(devices, config.workerDevices),
  drivers,
  log,
});
onShutdown(log, [() => worker.close()]);
