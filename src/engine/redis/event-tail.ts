import type { Redis } from "ioredis";
import type { RunEvent } from "../run/events.js";
import type { RedisKeys } from "./keys.js";

/** How long one XREAD blocks, and how many entries it takes at most. */
const blockMs = 5000;
const batch = 500;

/**
 * Follows the global event stream from the moment it starts, on a connection of its own (XREAD
 * BLOCK holds it), and hands each event to `onEvent` with its event_id: the id of the run stream
 * entry, which each script writes into the global entry as field 'id'. One per API process.
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
        for (const [id, fields] of reply?.[0]?.[1] ?? []) {
          this.lastId = id;
          const event = toEvent(fields);
          if (event) this.onEvent(event);
        }
      } catch (error) {
        if (this.stopped) return;
        this.onError(error);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }
}

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
