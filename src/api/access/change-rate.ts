import type { Redis } from "ioredis";
import type { RateLimiterRedis } from "rate-limiter-flexible";
import type { Principal, Refusal } from "./principal.js";
import { redisLimiter, takePoint } from "./redis-limiter.js";

/**
 * RATE_LIMIT_PER_MIN: how many requests that change something one client may make in a minute,
 * counted in Redis across API instances. A client is its credential's name when it has one (so a
 * person is one client from any machine), else its address.
 */
export class ChangeRate {
  private readonly limiter: RateLimiterRedis;

  constructor(
    redis: Redis,
    keyPrefix: string,
    private readonly perMinute: number,
  ) {
    this.limiter = redisLimiter(redis, keyPrefix, perMinute, 60);
  }

  /** The refusal of one change too many, or null. A Redis failure does not refuse. */
  async check(principal: Principal): Promise<Refusal | null> {
    const client = principal.via === "open" ? `address:${principal.address}` : `name:${principal.actor}`;
    const waitMs = await takePoint(this.limiter, client).catch(() => 0);
    if (waitMs === 0) return null;
    const retryAfterS = Math.ceil(waitMs / 1000);
    return {
      code: "RATE_LIMITED",
      message: `over ${this.perMinute} changes a minute from ${principal.via === "open" ? principal.address : principal.actor} (RATE_LIMIT_PER_MIN); try again in ${retryAfterS} s`,
      retryAfterS,
      actor: principal.actor,
      role: principal.role,
      address: principal.address,
      credentialFailed: false,
    };
  }
}
