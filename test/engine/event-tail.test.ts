import type { Redis } from "ioredis";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LiveEvents } from "../../src/api/live/live-events.js";
import { resyncFollowers, RunFollower } from "../../src/api/live/run-follower.js";
import { drivers } from "../../src/drivers/registry.js";
import {
  connectRedis,
  createCatalog,
  defaultEventRetention,
  defaultLimits,
  Engine,
  EventTail,
  type RunEvent,
} from "../../src/engine/index.js";
import type { EventGap } from "../../src/engine/redis/event-tail.js";
import { appendProgress } from "../../src/engine/redis/progress.js";
import { newPrefix, redisUrl, servo } from "../support/context.js";
import { seedDemo } from "../support/pipelines.js";

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/**
 * The tail's connection with its XREAD under the test's control: while held, the tail's next read
 * waits before it is sent (the tail has stopped reading, as one that fell behind), and one read can
 * be made to fail (as a dropped connection).
 */
function heldConnection(redis: Redis) {
  let held: Promise<void> | undefined;
  let release: () => void = () => undefined;
  let parked: () => void = () => undefined;
  let failNext = false;
  const connection = new Proxy(redis, {
    get(target, property) {
      if (property === "xread") {
        return async (...args: unknown[]) => {
          while (held) {
            parked();
            await held;
          }
          if (failNext) {
            failNext = false;
            throw new Error("connection lost (test)");
          }
          return (target.xread as (...a: unknown[]) => Promise<unknown>)(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return {
    connection,
    /** Resolves once the tail's next read is waiting. */
    hold(): Promise<void> {
      const waiting = new Promise<void>((resolve) => (parked = resolve));
      held = new Promise<void>((resolve) => (release = resolve));
      return waiting;
    },
    release(options: { failing?: boolean } = {}): void {
      failNext = options.failing ?? false;
      held = undefined;
      release();
    },
  };
}

async function rig() {
  const prefix = newPrefix();
  const redis = connectRedis(redisUrl(), { blocking: false, name: "test-tail" });
  cleanup.push(() => redis.quit());
  const engine = new Engine(
    redis,
    prefix,
    createCatalog([servo("servo-1")], drivers.values()),
    defaultLimits,
  );
  cleanup.push(() => engine.close());
  const tailRedis = connectRedis(redisUrl(), { blocking: true, name: "test-tail-events" });
  const held = heldConnection(tailRedis);
  const live = new LiveEvents();
  const delivered: RunEvent[] = [];
  live.subscribe((event) => delivered.push(event));
  const gaps: EventGap[] = [];
  const errors: unknown[] = [];
  const tail = new EventTail(
    held.connection,
    engine.keys,
    (event) => live.publish(event),
    (error) => errors.push(error),
    (gap) => {
      gaps.push(gap);
      void resyncFollowers(engine.runs, gap);
    },
  );
  await tail.start();
  cleanup.push(async () => {
    held.release();
    await tail.close();
  });
  let count = 0;
  /** Appends `n` node_progress events to a run as a worker does (both streams, one script each). */
  const progress = async (runId: string, n = 1) => {
    const ref = {
      runId,
      pipelineId: seedDemo.id,
      nodeId: "node_1",
      epoch: 0,
      deviceId: "servo-1",
      fence: "",
    };
    for (let i = 0; i < n; i += 1) {
      await appendProgress(redis, engine.keys, ref, 0.5, `step ${(count += 1)}`, defaultEventRetention);
    }
  };
  /** A follower of `runId` fed by the tail, and what it has sent. */
  const follow = async (runId: string, after: string | undefined) => {
    const sent: RunEvent[] = [];
    const follower = new RunFollower(engine, runId, after, {
      emit: (event) => sent.push(event),
      overflow: () => expect.fail("overflow"),
    });
    const unfollow = live.follow(runId, (event) => follower.deliver(event));
    cleanup.push(() => {
      follower.stop();
      unfollow();
    });
    await follower.start();
    return sent;
  };
  return { redis, engine, held, delivered, gaps, errors, progress, follow };
}

const ids = (events: RunEvent[]) => events.map((event) => event.event_id);

describe("EventTail", () => {
  it("after falling behind the global stream's cap, reports the gap, and each run follower gets every event once", async () => {
    const { redis, engine, held, delivered, gaps, progress, follow } = await rig();
    const { runId } = await engine.submitRun({ document: seedDemo });
    const fromStart = await follow(runId, "0-0");
    const fromNow = await follow(runId, undefined);
    await progress(runId, 2);
    await vi.waitFor(() => expect(fromNow).toHaveLength(2));

    // The tail stops reading once it has read one more event.
    const parked = held.hold();
    await progress(runId);
    await parked;
    await vi.waitFor(() => expect(fromNow).toHaveLength(3));
    const lastRead = (await redis.xrevrange(engine.keys.events, "+", "-", "COUNT", 1))[0]?.[0] as string;
    // A follower that has sent nothing when the gap comes.
    const late = await follow(runId, undefined);
    // Meanwhile 1,200 entries, 10 of them the run's, and the oldest 600 trimmed, unread (as the
    // scripts' XADD MAXLEN ~ does past 10,000): 5 of the run's are gone from the global stream.
    for (let block = 0; block < 10; block += 1) {
      await progress("run_other", 119);
      await progress(runId);
    }
    await redis.xtrim(engine.keys.events, "MAXLEN", 600);
    const inGap = (await engine.runs.events(runId, ids(fromNow).at(-1))).length;
    expect(inGap).toBe(10);
    held.release();

    await vi.waitFor(() => expect(gaps).toHaveLength(1));
    expect(gaps[0]).toMatchObject({ lastId: lastRead });
    expect(gaps[0]?.firstId).toMatch(/^\d+-\d+$/);
    expect(gaps[0]?.behindMs).toBeGreaterThanOrEqual(0);
    await progress(runId);
    const stored = await engine.runs.events(runId, "0-0");
    await vi.waitFor(() => expect(ids(fromStart)).toEqual(ids(stored)));
    // The tail itself handed on only what the stream still had: the run's 5 trimmed events never
    // came live; the followers read them from the run's own stream.
    expect(delivered.filter((event) => event.run_id === runId)).toHaveLength(stored.length - 5);
    expect(ids(fromNow)).toEqual(ids(stored).slice(-14));
    expect(new Set(ids(fromStart)).size).toBe(stored.length);
    // The one that had sent nothing read from about where the gap began: all 10 and the one after.
    expect(ids(late).slice(-11)).toEqual(ids(stored).slice(-11));
    expect(ids(late)).toEqual(ids(stored).slice(-ids(late).length));
  });

  it("finds the gap on the first read after a failed one, however short that read", async () => {
    const { redis, engine, held, gaps, errors, progress, follow } = await rig();
    const { runId } = await engine.submitRun({ document: seedDemo });
    const sent = await follow(runId, "0-0");
    const parked = held.hold();
    await progress(runId);
    await parked;
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    // The run's next 3 events are trimmed from the global stream while the tail is away.
    await progress(runId, 3);
    await progress("run_other", 30);
    await redis.xtrim(engine.keys.events, "MAXLEN", 10);
    held.release({ failing: true });
    await vi.waitFor(() => expect(gaps).toHaveLength(1));
    expect(errors).toHaveLength(1);
    await progress(runId);
    const stored = await engine.runs.events(runId, "0-0");
    await vi.waitFor(() => expect(ids(sent)).toEqual(ids(stored)));
    expect(stored).toHaveLength(5);
  });

  it("reports no gap when it reads full batches of a stream that lost nothing it had not read", async () => {
    const { engine, held, delivered, gaps, progress, follow } = await rig();
    const { runId } = await engine.submitRun({ document: seedDemo });
    const sent = await follow(runId, "0-0");
    const parked = held.hold();
    await progress(runId);
    await parked;
    await progress("run_other", 1200);
    await progress(runId);
    held.release();
    await vi.waitFor(() => expect(sent).toHaveLength(2));
    expect(delivered).toHaveLength(1202);
    expect(gaps).toEqual([]);
  });
});
