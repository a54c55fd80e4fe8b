import { Redis } from "ioredis";

/**
 * Opens a Redis connection. `blocking` connections (BullMQ workers, stream readers) retry forever,
 * as BullMQ requires; request-serving connections fail fast so the API can answer 503.
 */
export function connectRedis(url: string, options: { blocking: boolean; name: string }): Redis {
  const redis = new Redis(url, {
    connectionName: options.name,
    maxRetriesPerRequest: options.blocking ? null : 1,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  return redis;
}
