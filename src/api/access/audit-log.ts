import type { Redis } from "ioredis";
import type { Logger } from "pino";

/** One line of the audit log, as the API answers it. */
export interface AuditEntry {
  audit_id: string;
  at: string;
  actor: string;
  role: string;
  address: string;
  action: string;
  target: string;
  /** "ok", or the error code the attempt was answered with. */
  outcome: string;
}

export type AuditRecord = Omit<AuditEntry, "audit_id" | "at">;

const fields = ["at", "actor", "role", "address", "action", "target", "outcome"] as const;

/**
 * Who did what: a Redis stream, so every API process appends to one log in one order, and an
 * entry's id (time-ordered, unique) is the cursor `after=` pages by. It keeps the newest
 * `maxEntries` (trimmed as it grows). An entry is written after the change it records, with its
 * outcome; a failure to write it is logged, and does not undo or fail the change.
 */
export class AuditLog {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly maxEntries: number,
    private readonly log: Logger,
  ) {}

  async record(record: AuditRecord): Promise<void> {
    const values = { ...record, at: new Date().toISOString() };
    try {
      await this.redis.xadd(
        this.key,
        "MAXLEN",
        "~",
        this.maxEntries,
        "*",
        ...fields.flatMap((field) => [field, values[field].slice(0, 500)]),
      );
    } catch (error) {
      this.log.error({ err: error, audit: values }, "an audit entry could not be written");
    }
  }

  /** Entries after `after` (an audit_id; from the oldest without it), oldest first. */
  async list(
    after: string | undefined,
    limit: number,
  ): Promise<{ entries: AuditEntry[]; next_after: string | null }> {
    const rows = await this.redis.xrange(this.key, after ? `(${after}` : "-", "+", "COUNT", limit);
    const entries = rows.map(([id, flat]) => {
      const value: Record<string, string> = {};
      for (let i = 0; i + 1 < flat.length; i += 2) value[flat[i] as string] = flat[i + 1] as string;
      return {
        audit_id: id,
        at: value.at ?? "",
        actor: value.actor ?? "",
        role: value.role ?? "",
        address: value.address ?? "",
        action: value.action ?? "",
        target: value.target ?? "",
        outcome: value.outcome ?? "",
      };
    });
    return { entries, next_after: entries.at(-1)?.audit_id ?? after ?? null };
  }
}
