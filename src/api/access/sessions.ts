import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { sha256Hex } from "./credentials.js";

/** How many sessions one credential keeps; a sign-in past it ends the oldest. */
export const sessionsPerCredential = 50;

/** A dashboard session as stored: the credential it was opened with, and when. */
export interface StoredSession {
  credentialId: string;
  createdAtMs: number;
}

/**
 * Dashboard sessions in Redis, shared by every API process. The cookie holds a random 256-bit id;
 * Redis holds only its SHA-256, so reading Redis (a dump, MONITOR) opens no session. A session ends
 * `idleS` after its last use (the key's expiry, pushed on at each use) and `maxS` after sign-in
 * (checked on each use against the stored creation time), or at once on sign-out.
 */
export class SessionStore {
  /** The last place given to a session (ms), so that this process's sign-ins never tie. */
  private lastPlace = 0;

  constructor(
    private readonly redis: Redis,
    private readonly keys: {
      session: (idHash: string) => string;
      credentialSessions: (credentialId: string) => string;
    },
    private readonly limits: { idleS: number; maxS: number },
  ) {}

  private keyOf(idHash: string): string {
    return this.keys.session(idHash);
  }

  /**
   * A new session for a credential. A credential keeps at most `sessionsPerCredential`: signing in
   * once more ends its oldest, so no token (a viewer's included) can fill Redis with sessions.
   */
  async create(credentialId: string): Promise<string> {
    const id = randomBytes(32).toString("base64url");
    const idHash = sha256Hex(id);
    const key = this.keyOf(idHash);
    const index = this.keys.credentialSessions(credentialId);
    const now = Date.now();
    // Its place among the credential's sessions: sign-in order, even for two in one millisecond
    // (ties would be ended in no particular order once over the cap).
    const place = Math.max(now, this.lastPlace + 1);
    this.lastPlace = place;
    const [, , , , , count] =
      (await this.redis
        .multi()
        .hset(key, { credential: credentialId, created: now })
        .expire(key, Math.min(this.limits.idleS, this.limits.maxS))
        .zadd(index, place, idHash)
        .zremrangebyscore(index, "-inf", now - this.limits.maxS * 1000)
        .expire(index, this.limits.maxS)
        .zcard(index)
        .exec()) ?? [];
    const over = Number(count?.[1] ?? 0) - sessionsPerCredential;
    if (over > 0) {
      const oldest = await this.redis.zpopmin(index, over);
      const ended = oldest.filter((_, i) => i % 2 === 0).map((hash) => this.keyOf(hash));
      if (ended.length > 0) await this.redis.del(...ended);
    }
    return id;
  }

  /** The live session with this id, its idle expiry pushed on; null when there is none. */
  async use(id: string): Promise<StoredSession | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const key = this.keyOf(sha256Hex(id));
    // A pipeline, not a MULTI: Redis out of memory refuses every command queued in a MULTI, and a
    // signed-in operator must still be able to read (and see why changes are refused).
    const [stored] =
      (await this.redis.pipeline().hgetall(key).expire(key, this.limits.idleS, "XX").exec()) ?? [];
    if (stored?.[0]) throw stored[0];
    const fields = (stored?.[1] ?? {}) as Record<string, string>;
    const createdAtMs = Number(fields.created);
    if (!fields.credential || !Number.isFinite(createdAtMs)) return null;
    const leftMs = createdAtMs + this.limits.maxS * 1000 - Date.now();
    if (leftMs <= 0) {
      await this.redis.del(key);
      return null;
    }
    // Never past the absolute end, even by the idle expiry just pushed on.
    if (leftMs < this.limits.idleS * 1000) await this.redis.pexpire(key, leftMs);
    return { credentialId: fields.credential, createdAtMs };
  }

  /** The live session with this id, as `use` finds it, but without pushing its idle expiry on. */
  async peek(id: string): Promise<StoredSession | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const fields = await this.redis.hgetall(this.keyOf(sha256Hex(id)));
    const createdAtMs = Number(fields.credential ? fields.created : NaN);
    if (!fields.credential || !Number.isFinite(createdAtMs)) return null;
    if (createdAtMs + this.limits.maxS * 1000 <= Date.now()) return null;
    return { credentialId: fields.credential, createdAtMs };
  }

  async revoke(id: string): Promise<void> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return;
    const idHash = sha256Hex(id);
    const credentialId = await this.redis.hget(this.keyOf(idHash), "credential");
    const removal = this.redis.multi().del(this.keyOf(idHash));
    if (credentialId) removal.zrem(this.keys.credentialSessions(credentialId), idHash);
    await removal.exec();
  }
}
