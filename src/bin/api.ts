// `npm run api`: only the HTTP API, against REDIS_URL. Any number may run at once.
import { onShutdown } from "./shutdown.js";
import { requireRedisUrl, runApi, runMain, setup } from "./setup.js";

runMain(async () => {
  const started = setup("rigflow-api");
  const api = await runApi(started, requireRedisUrl(started.config.redisUrl));
  onShutdown(started.log, [() => api.close()]);
});
