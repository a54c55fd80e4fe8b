import type { Redis } from "ioredis";
import { compareEventIds, type RunEvent } from "../run/events.js";
import type { RedisKeys } from "./keys.js";

/** How long one XREAD blocks, and how many entries it takes at most. */
const blockMs = 5000;
const batch = 500;

/**
 * Entries of the global stream the tail never read: it fell behind the stream's cap (about 10,000
 * entries; XADD MAXLEN ~ in the scripts), or was away (a Redis error, a reconnect) that long.
 */
export interface EventGap {
  /** The last entry read before the gap (a global stream id). */
  lastId: string;
  /** The oldest entry the stream still has, null if it has none. */
  firstId: string | null;
  /** How far the tail was behind: the milliseconds between those two ids. */
  behindMs: number;
}

/**
 * Follows the global event stream from the moment it starts, on a connection of its own (XREAD
 * BLOCK holds it), and hands each event to `onEvent` with its event_id: the id of the run stream
 * entry, which each script writes into the global entry as field 'id'. One per API process.
 *
 * The stream is capped, so a tail that falls far enough behind loses entries. It checks for that
 * whenever it may have happened (a read that came back full, the first read after an error) and
 * then calls `onGap`, before handing on the entries of that read: each run's own stream still has
 * what the global one lost.
 */
export class EventTail {
  private lastId = "0-0";
  private stopped = false;
  private loop: Promise<void> | undefined;
  private positioned: () => void = () => undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly onEvent: (event: RunEvent) => void,
    private readonly onError: (error: unknown) => void = () => undefined,
    private readonly onGap: (gap: EventGap) => void = () => undefined,
  ) {}

  /**
   * Resolves once positioned at the stream's end, so that every event added after that is
   * delivered; or after `waitMs` if Redis does not answer, the tail then positioning when it can.
   */
  async start(waitMs = 3000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const positioned = new Promise<void>((resolve) => {
      this.positioned = resolve;
      timer = setTimeout(resolve, waitMs);
    });
    this.loop = this.run();
    await positioned;
    clearTimeout(timer);
  }

  async close(): Promise<void> {
    this.stopped = true;
    // A blocked XREAD answers only when its connection goes.
    this.redis.disconnect();
    await this.loop;
  }

  private async run(): Promise<void> {
    let positioned = false;
    let failed = false;
    while (!this.stopped) {
      try {
        if (!positioned) {
          const [last] = await this.redis.xrevrange(this.keys.events, "+", "-", "COUNT", 1);
          if (last) this.lastId = last[0];
          positioned = true;
          this.positioned();
        }
        const reply = await this.redis.xread(
          "COUNT",
          batch,
          "BLOCK",
          blockMs,
          "STREAMS",
          this.keys.events,
          this.lastId,
        );
        const entries = reply?.[0]?.[1] ?? [];
        // Entries can have been trimmed unread only if at least a cap's worth came after lastId
        // (a read then comes back full), or while the tail was away.
        if (entries.length > 0 && (entries.length >= batch || failed)) await this.checkGap();
        failed = false;
        for (const [id, fields] of entries) {
          this.lastId = id;
          const event = toEvent(fields);
          if (event) this.onEvent(event);
        }
      } catch (error) {
        if (this.stopped) return;
        failed = positioned;
        this.onError(error);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /**
   * Reports a gap if entries after lastId may have been trimmed: the stream's cap trims the oldest
   * first, so that is so only if lastId itself is gone, the stream's first entry being newer. It
   * can report a gap when only lastId went (or went just after the read): harmless, followers read
   * again; it misses none. A tail positioned on an empty stream (lastId 0-0) lost entries only if
   * any were trimmed (Redis 7 counts the entries ever added).
   */
  private async checkGap(): Promise<void> {
    let info: Record<string, unknown>;
    try {
      info = pairs((await this.redis.xinfo("STREAM", this.keys.events)) as unknown[]);
    } catch {
      return; // no stream (nothing to have lost), or Redis is failing: the next read reports that
    }
    const first = info["first-entry"];
    const firstId = Array.isArray(first) && typeof first[0] === "string" ? first[0] : null;
    if (firstId === null || compareEventIds(firstId, this.lastId) <= 0) return;
    if (this.lastId === "0-0" && !(Number(info["entries-added"]) > Number(info.length))) return;
    const behindMs = Math.max(0, msOf(firstId) - msOf(this.lastId));
    this.onGap({ lastId: this.lastId, firstId, behindMs });
  }
}

function pairs(flat: unknown[]): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (let index = 0; index + 1 < flat.length; index += 2) record[String(flat[index])] = flat[index + 1];
  return record;
}

const msOf = (id: string) => Number(id.split("-")[0]);

/** A global entry is ['e', json, 'id', run stream id]; one without an id (older) is skipped. */
function toEvent(fields: string[]): RunEvent | null {
  const json = valueOf(fields, "e");
  const eventId = valueOf(fields, "id");
  if (json === undefined || eventId === undefined) return null;
  try {
    return { event_id: eventId, ...(JSON.parse(json) as Omit<RunEvent, "event_id">) } as RunEvent;
  } catch {
    return null;
  }
}

function valueOf(fields: string[], name: string): string | undefined {
  for (let index = 0; index + 1 < fields.length; index += 2) {
    if (fields[index] === name) return fields[index + 1];
  }
  return undefined;
}
