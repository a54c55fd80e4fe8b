import type { Redis } from "ioredis";
import type { RateLimiterRedis } from "rate-limiter-flexible";
import { redisLimiter, takePoint } from "./redis-limiter.js";

/** Failed sign-ins and bad tokens one client address may make in a window before it is refused. */
export const signInFailuresAllowed = 10;
/** Sign-ins (sessions made) one credential may make in a window. */
export const signInsAllowed = 10;
const windowS = 60;

/**
 * Throttles guessing: counts each client address's failed sign-ins and bad tokens in Redis (so
 * every API process sees the same count) and, past 10 in a minute, refuses that address's
 * credentials unread, right or wrong, until the window ends. It also bounds sign-ins per
 * credential: each makes a session and an audit entry, and a token, a viewer's too, must not be
 * able to flood either.
 */
export class SignInThrottle {
  private readonly failures: RateLimiterRedis;
  private readonly signIns: RateLimiterRedis;

  constructor(redis: Redis, keys: { signInFailures: string; signIns: string }) {
    this.failures = redisLimiter(redis, keys.signInFailures, signInFailuresAllowed, windowS);
    this.signIns = redisLimiter(redis, keys.signIns, signInsAllowed, windowS);
  }

  /** How long, in ms, this address must wait before its credentials are read again; 0 if not blocked. */
  async blockedForMs(address: string): Promise<number> {
    const state = await this.failures.get(address).catch(() => null);
    return state && state.consumedPoints >= signInFailuresAllowed ? Math.max(state.msBeforeNext, 1) : 0;
  }

  /** Counts a failed sign-in or bad token of this address. */
  async recordFailure(address: string): Promise<void> {
    await takePoint(this.failures, address);
  }

  /** Counts a sign-in with this credential: 0 if allowed, else ms until one is. */
  async signInWaitMs(credentialId: string): Promise<number> {
    return takePoint(this.signIns, credentialId);
  }
}
