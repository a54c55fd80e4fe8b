import type { Redis } from "ioredis";
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";

/** Failed sign-ins and bad tokens one client address may make in a window before it is refused. */
export const signInFailuresAllowed = 10;
const windowS = 60;

/**
 * Throttles guessing: counts each client address's failed sign-ins and bad tokens in Redis (so
 * every API process sees the same count) and, past 10 in a minute, refuses that address's
 * credentials unread, right or wrong, until the window ends. While Redis does not answer the
 * count is kept in this process (rate-limiter-flexible's insurance limiter), so a Redis outage
 * does not lift the limit.
 */
export class SignInThrottle {
  private readonly limiter: RateLimiterRedis;

  constructor(redis: Redis, keyPrefix: string) {
    const limits = { points: signInFailuresAllowed, duration: windowS };
    this.limiter = new RateLimiterRedis({
      storeClient: redis,
      keyPrefix,
      ...limits,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix, ...limits }),
    });
  }

  /** How long, in ms, this address must wait before its credentials are read again; 0 if not blocked. */
  async blockedForMs(address: string): Promise<number> {
    const state = await this.limiter.get(address).catch(() => null);
    return state && state.consumedPoints >= signInFailuresAllowed ? Math.max(state.msBeforeNext, 1) : 0;
  }

  /** Counts a failed sign-in or bad token of this address. */
  async recordFailure(address: string): Promise<void> {
    await this.limiter.consume(address).catch((reason: unknown) => {
      if (!(reason instanceof RateLimiterRes)) throw reason;
    });
  }
}
