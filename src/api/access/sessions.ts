import { randomBytes } from "node:crypto";
import type { Redis } from "ioredis";
import { sha256Hex } from "./credentials.js";

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
  constructor(
    private readonly redis: Redis,
    private readonly keyOf: (idHash: string) => string,
    private readonly limits: { idleS: number; maxS: number },
  ) {}

  async create(credentialId: string): Promise<string> {
    const id = randomBytes(32).toString("base64url");
    const key = this.keyOf(sha256Hex(id));
    await this.redis
      .multi()
      .hset(key, { credential: credentialId, created: Date.now() })
      .expire(key, Math.min(this.limits.idleS, this.limits.maxS))
      .exec();
    return id;
  }

  /** The live session with this id, its idle expiry pushed on; null when there is none. */
  async use(id: string): Promise<StoredSession | null> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return null;
    const key = this.keyOf(sha256Hex(id));
    const [stored] =
      (await this.redis.multi().hgetall(key).expire(key, this.limits.idleS, "XX").exec()) ?? [];
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
    await this.redis.del(this.keyOf(sha256Hex(id)));
  }
}
