import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { RedisKeys } from "../engine/index.js";
import type { CommandRegistry } from "./command-registry.js";

/** How often the halt flags of the runs with commands in this process are read again. */
export const haltRecheckMs = 500;

/**
 * A cancel or a run timeout reaches the worker running the run's command over pub/sub, which is at
 * most once: a message published while the subscriber reconnects is gone. So the worker also reads
 * the halt flag (durable, in the run hash) of every run it has a command of, every 500 ms and
 * whenever its subscriber is back: a halt reaches its commands within a second either way.
 */
export function watchHalts(deps: {
  redis: Redis;
  subscriber: Redis;
  keys: RedisKeys;
  commands: CommandRegistry;
  log: Logger;
}): () => void {
  const { redis, subscriber, keys, commands, log } = deps;
  let reading = false;
  const recheck = async () => {
    const runIds = commands.runIds();
    if (runIds.length === 0 || reading) return;
    reading = true;
    try {
      const pipeline = redis.pipeline();
      for (const runId of runIds) pipeline.hmget(keys.run(runId), "halt", "pause_mode");
      const halts = (await pipeline.exec()) ?? [];
      runIds.forEach((runId, index) => {
        const [halt, pauseMode] = (halts[index]?.[1] ?? []) as (string | null)[];
        // A deferred pause lets running commands finish; an immediate one stops them.
        const stop = halt === "paused" && pauseMode === "immediate" ? "pause" : halt;
        if (stop !== "cancelled" && stop !== "timeout" && stop !== "pause") return;
        const stopped = commands.cancelRun(runId, stop);
        if (stopped > 0) log.info({ runId, stopped, halt }, "stopped running commands of a halted run");
      });
    } finally {
      reading = false;
    }
  };
  const run = () =>
    void recheck().catch((error: unknown) => log.debug({ err: error }, "halt recheck failed"));
  const timer = setInterval(run, haltRecheckMs);
  subscriber.on("ready", run);
  return () => {
    clearInterval(timer);
    subscriber.off("ready", run);
  };
}
