// `npm start`: everything on one machine. An embedded Redis unless REDIS_URL is set (AOF on, data
// under .data/, fsynced before each write is answered unless REDIS_APPENDFSYNC=everysec), the API,
// and one worker hosting every device in the devices file.
import { join } from "node:path";
import { startRedisServer } from "../infra/redis-server.js";
import { onShutdown } from "./shutdown.js";
import { runApi, runMain, runWorker, setup } from "./setup.js";

runMain(async () => {
  const started = setup("rigflow");
  const { config, log } = started;
  const closers: (() => Promise<void>)[] = [];
  let redisUrl = config.redisUrl;
  if (!redisUrl) {
    const dataDir = join(config.dataDir, "redis");
    const appendfsync = config.redisAppendfsync;
    const redis = await startRedisServer({ dataDir, appendfsync, install: true });
    log.info({ url: redis.url, dataDir, appendfsync }, "embedded redis-server started");
    redisUrl = redis.url;
    closers.push(() => redis.stop());
  }
  try {
    const worker = await runWorker(started, redisUrl);
    closers.unshift(() => worker.close());
    const api = await runApi(started, redisUrl);
    closers.unshift(() => api.close());
    onShutdown(log, closers);
    console.log(`Rigflow is up: http://localhost:${api.port}  (Redis ${redisUrl}; Ctrl-C stops everything)`);
  } catch (error) {
    // Stop what did start (the embedded Redis above all) before reporting the failure.
    for (const close of closers) await close().catch(() => undefined);
    throw error;
  }
});
