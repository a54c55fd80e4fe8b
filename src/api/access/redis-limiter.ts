import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";

/**
 * A counter of `points` per key per `durationS` window, kept in Redis so that every API process
 * counts together; while Redis is not ready each process counts on its own (rate-limiter-flexible's
 * insurance limiter), so an outage does not lift a limit.
 */
export function redisLimiter(redis: Redis, keyPrefix: string, points: number, durationS: number) {
  return new RateLimiterRedis({
    storeClient: redis,
    keyPrefix,
    points,
    duration: durationS,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration: durationS }),
  });
}

/** Takes a point: resolves 0 if it was there, else how many ms until the key has points again. */
export async function takePoint(limiter: RateLimiterRedis, key: string): Promise<number> {
  try {
    await limiter.consume(key);
    return 0;
  } catch (reason) {
    if (reason instanceof RateLimiterRes) return Math.max(reason.msBeforeNext, 1);
    throw reason;
  }
}
