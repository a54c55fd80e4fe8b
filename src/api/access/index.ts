import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { RedisKeys } from "../../engine/index.js";
import { AuditLog } from "./audit-log.js";
import { ChangeRate } from "./change-rate.js";
import { CredentialBook } from "./credentials.js";
import { AccessGate } from "./gate.js";
import { AuditTrail } from "./http-guard.js";
import { SessionStore } from "./sessions.js";
import type { AccessSettings } from "./settings.js";
import { SignInThrottle } from "./sign-in-throttle.js";

export { AccessGate, sessionCookie, type Principal, type Refusal } from "./gate.js";
export { AuditTrail, guard, refusalResponse, statusOfRefusal, type AccessEnv } from "./http-guard.js";
export { defaultAccessSettings, tokensConfigured, type AccessSettings } from "./settings.js";

/** Access for one API process: its gate and its audit trail, on the engine's Redis. */
export function createAccess(redis: Redis, keys: RedisKeys, settings: AccessSettings, log: Logger) {
  const gate = new AccessGate(
    settings,
    new CredentialBook(settings, log),
    new SessionStore(redis, keys, { idleS: settings.sessionIdleS, maxS: settings.sessionMaxS }),
    new SignInThrottle(redis, keys),
    new AuditLog(redis, keys.audit, settings.auditMaxEntries, log),
    new ChangeRate(redis, keys.changeRate, settings.changesPerMinute),
    log,
  );
  return { gate, trail: new AuditTrail(gate, redis, keys.auditedRefusals) };
}

export type Access = ReturnType<typeof createAccess>;
