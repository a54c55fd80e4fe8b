// `npm run worker`: a worker hosting WORKER_DEVICES (default: every device in the file).
import { onShutdown } from "./shutdown.js";
import { requireRedisUrl, runMain, runWorker, setup } from "./setup.js";

runMain(async () => {
  const started = setup("rigflow-worker");
  const worker = await runWorker(started, requireRedisUrl(started.config.redisUrl));
  onShutdown(started.log, [() => worker.close()]);
});
