/**
 * The baseline for live events: the least a relay from a Redis stream to WebSocket clients can do.
 * One XREAD BLOCK loop on a stream of ready-made JSON texts, each text sent as it is to every client
 * of a bare `ws` server: no parse, no per-client serialization, no subscriptions, no limits.
 */
import { Redis } from "ioredis";
import { WebSocketServer } from "ws";
import { childConfig, runChild } from "./child-side.js";

interface Config {
  redisUrl: string;
  stream: string;
}

runChild("bench relay", async () => {
  const config = childConfig<Config>();
  const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null, connectionName: "bench-relay" });
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, path: "/ws" });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  const [last] = await redis.xrevrange(config.stream, "+", "-", "COUNT", 1);
  let lastId = last?.[0] ?? "0-0";
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const reply = await redis
        .xread("COUNT", 500, "BLOCK", 5000, "STREAMS", config.stream, lastId)
        .catch((error: unknown) => {
          if (stopped) return null;
          throw error;
        });
      for (const [id, fields] of reply?.[0]?.[1] ?? []) {
        lastId = id;
        const text = fields[1];
        if (text !== undefined) for (const client of wss.clients) client.send(text);
      }
    }
  })();
  const address = wss.address();
  return {
    ready: { port: typeof address === "object" && address ? address.port : 0 },
    async close() {
      stopped = true;
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      redis.disconnect();
      await loop;
    },
  };
});
