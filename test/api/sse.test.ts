import { afterEach, describe, expect, it, vi } from "vitest";
import { LiveEvents } from "../../src/api/live/live-events.js";
import { resyncFollowers } from "../../src/api/live/run-follower.js";
import { SseSession, type SseSink, type SseTuning } from "../../src/api/live/sse-session.js";
import type { ApiHandle } from "../../src/api/server.js";
import type { Engine, RunEvent } from "../../src/engine/index.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { newPrefix, servo, startTestServer, startTestWorker } from "../support/context.js";
import { getJson } from "../support/http.js";
import { doc, move, servoDiamond } from "../support/pipelines.js";
import { allStoredEvents, appendProgressEvents, type StoredEvent } from "../support/run-events.js";
import { SseClient } from "../support/sse-client.js";

const devices = [
  servo("servo-1", { speed: 4000 }),
  servo("servo-2", { speed: 4000 }),
  servo("flaky-1", { speed: 4000, fail_first: { move: 1 } }),
];
const diamond = servoDiamond("sse_diamond");
const endTypes = ["pipeline_completed", "pipeline_error", "pipeline_cancelled"];

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function rig(
  options: { apiToken?: string; sse?: Partial<SseTuning> } = {},
): Promise<{ api: ApiHandle; base: string; worker: () => Promise<WorkerHandle> }> {
  const prefix = newPrefix();
  const api = await startTestServer(prefix, devices, options);
  cleanup.push(() => api.close());
  const worker = async () => {
    const handle = await startTestWorker(prefix, devices);
    cleanup.splice(1, 0, () => handle.close()); // closed before the API
    return handle;
  };
  return { api, base: `http://127.0.0.1:${api.port}`, worker };
}

async function open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const client = await SseClient.open(url, headers);
  cleanup.push(() => client.close());
  return client;
}

type Stored = StoredEvent;
const storedEvents = async (base: string, runId: string) =>
  (await getJson<{ events: Stored[] }>(base, `/api/runs/${runId}/events`)).events;

/** Rejects if `promise` has not settled within `ms`: a stream that should end but stays open. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

describe("GET /api/runs/{id}/events as Server-Sent Events", () => {
  it("streams a run's every event, live, with ids in order, and ends after the run's last event", async () => {
    const { api, base, worker } = await rig();
    // No worker yet: the stream opens on a queued run and everything after is live.
    const { runId } = await api.engine.submitRun({ document: diamond });
    const client = await open(`${base}/api/runs/${runId}/events`);
    expect(client.response.headers.get("cache-control")).toBe("no-cache");
    await worker();
    await client.ended;

    const events = client.events();
    expect(events).toEqual(await storedEvents(base, runId));
    expect(events.length).toBeGreaterThan(8);
    expect(client.messages.map((m) => m.id)).toEqual(events.map((e) => e.event_id));
    expect(client.messages.map((m) => m.event)).toEqual(events.map((e) => e.type));
    const ids = events.map((e) => e.event_id);
    expect([...ids].sort(byStreamId)).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect(events[0]?.type).toBe("pipeline_started");
    expect(events.at(-1)).toMatchObject({ type: "pipeline_completed", run_id: runId });
  });

  it("a reconnect with Last-Event-ID gets exactly the rest, once each; after the end it is told 204", async () => {
    const { api, base, worker } = await rig();
    await worker();
    const { runId } = await api.engine.submitRun({ document: diamond });
    const first = await open(`${base}/api/runs/${runId}/events/stream`);
    await first.waitUntil(() => first.events().some((e) => e.type === "node_completed"));
    first.close();
    const before = first.events();
    const lastId = first.lastEventId as string;

    // As an EventSource reconnects: the same URL (here with an older after=) and Last-Event-ID, newer.
    const second = await open(`${base}/api/runs/${runId}/events/stream?after=${before[0]?.event_id}`, {
      "last-event-id": lastId,
    });
    await second.ended;
    const all = await storedEvents(base, runId);
    expect([...before, ...second.events()]).toEqual(all);
    expect(all.at(-1)?.type).toBe("pipeline_completed");

    // The run has ended and the client has its last event: 204 stops an EventSource for good.
    const done = await fetch(`${base}/api/runs/${runId}/events/stream`, {
      headers: { "last-event-id": all.at(-1)?.event_id as string },
    });
    expect(done.status).toBe(204);
    // After a run ended, after= replays from any point and the stream ends.
    const late = await open(`${base}/api/runs/${runId}/events?after=${all[2]?.event_id}`);
    await late.ended;
    expect(late.events()).toEqual(all.slice(3));
  });

  it("ends at a run's end, is 204 while it stays ended, and follows it again once resumed", async () => {
    const { api, base, worker } = await rig();
    await worker();
    const once = { retry: { attempts: 1, backoff_ms: 0 } };
    const flaky = doc(
      "sse_flaky",
      [move("a", "servo-1", 10), { ...move("b", "flaky-1", 20), ...once }],
      [{ source: "a", target: "b" }],
    );
    const { runId } = await api.engine.submitRun({ document: flaky });
    const first = await open(`${base}/api/runs/${runId}/events/stream`);
    await first.ended;
    expect(first.events().at(-1)).toMatchObject({ type: "pipeline_error", node_id: "b" });
    const lastId = first.lastEventId as string;
    const ended = await fetch(`${base}/api/runs/${runId}/events/stream`, {
      headers: { "last-event-id": lastId },
    });
    expect(ended.status).toBe(204);

    await api.engine.resumeRun(runId);
    const second = await open(`${base}/api/runs/${runId}/events/stream`, { "last-event-id": lastId });
    await second.ended;
    expect(second.events()[0]?.type).toBe("pipeline_resumed");
    expect(second.events().at(-1)?.type).toBe("pipeline_completed");
    // From the start, the stream does not stop at the first failure: it ends at the run's last event.
    const whole = await open(`${base}/api/runs/${runId}/events`);
    await whole.ended;
    expect(whole.events()).toEqual(await storedEvents(base, runId));
    expect(
      whole
        .events()
        .filter((e) => endTypes.includes(e.type))
        .map((e) => e.type),
    ).toEqual(["pipeline_error", "pipeline_completed"]);
  });

  it("replays a run of several MiB to a client that reads, every event in order, and ends", async () => {
    const { api, base, worker } = await rig();
    const { runId } = await api.engine.submitRun({ document: diamond });
    // 3,000 progress events of about 2 KiB, then the run itself: the replay is over 6 MiB, several
    // times the 1 MiB a client may be behind, and three pages of the run's stream.
    const messages = Array.from({ length: 3000 }, (_, i) => `${i} `.padEnd(2048, "x"));
    await appendProgressEvents(api, { runId, pipelineId: diamond.id, nodeId: "top" }, messages);
    await worker();
    await api.engine.waitForRun(runId, 15_000);
    const stored = await allStoredEvents(base, runId);
    expect(stored.length).toBeGreaterThan(3008);

    const client = await open(`${base}/api/runs/${runId}/events`);
    await within(client.ended, 20_000, "the replay's end");
    const events = client.events();
    expect(events.map((e) => e.event_id)).toEqual(stored.map((e) => e.event_id));
    expect(events.slice(0, messages.length).every((e, i) => e.message === messages[i])).toBe(true);
    expect(events).toEqual(stored);
    expect(client.messages.reduce((bytes, m) => bytes + m.data.length, 0)).toBeGreaterThan(6 * 1024 * 1024);
    expect(events.at(-1)?.type).toBe("pipeline_completed");
  });

  it("ends the stream of an ended run whose replay holds no end event, or ends with a late event", async () => {
    const { api, base, worker } = await rig();
    await worker();
    const { runId } = await api.engine.submitRun({ document: diamond });
    await api.engine.waitForRun(runId, 15_000);
    const ended = await storedEvents(base, runId);
    const endId = ended.at(-1)?.event_id as string;
    expect(ended.at(-1)?.type).toBe("pipeline_completed");
    // A node_progress written after the run finished: its last event is not an end event.
    await appendProgressEvents(api, { runId, pipelineId: diamond.id, nodeId: "top" }, ["late"]);
    const all = await storedEvents(base, runId);
    expect(all.at(-1)).toMatchObject({ type: "node_progress", message: "late" });

    // From the start: the end event, then the late one.
    const whole = await open(`${base}/api/runs/${runId}/events`);
    await within(whole.ended, 10_000, "the stream from the start");
    expect(whole.events()).toEqual(all);
    // From after the end: only the late event, and no end event at all in the replay.
    const rest = await open(`${base}/api/runs/${runId}/events/stream`, { "last-event-id": endId });
    await within(rest.ended, 10_000, "the stream after the end");
    expect(rest.events()).toEqual(all.slice(ended.length));
  });

  it("answers an event id over 2^64-1 with 400 QUERY_INVALID, and the greatest id with nothing after it", async () => {
    const { api, base } = await rig();
    const { runId } = await api.engine.submitRun({ document: diamond });
    const cases: [string, Record<string, string>][] = [
      [`/api/runs/${runId}/events?after=99999999999999999999-0`, { accept: "application/json" }],
      [`/api/runs/${runId}/events?after=1-18446744073709551616`, { accept: "application/json" }],
      [`/api/runs/${runId}/events?after=99999999999999999999-0`, { accept: "text/event-stream" }],
      [`/api/runs/${runId}/events/stream`, { "last-event-id": "18446744073709551616-0" }],
      [
        `/api/runs/${runId}/events`,
        { accept: "text/event-stream", "last-event-id": "18446744073709551616-0" },
      ],
    ];
    for (const [path, headers] of cases) {
      const response = await fetch(`${base}${path}`, { headers });
      const what = `${path} ${JSON.stringify(headers)}`;
      expect(response.status, what).toBe(400);
      const body = (await response.json()) as { error: { code: string } };
      expect(body.error.code, what).toBe("QUERY_INVALID");
    }
    const greatest = "18446744073709551615-18446744073709551615";
    const page = await fetch(`${base}/api/runs/${runId}/events?after=${greatest}`);
    expect(page.status).toBe(200);
    expect(await page.json()).toEqual({ events: [], next_after: null, expired: false });
  });

  it("answers bad input in the contract's error shape: 400 for a bad after or Last-Event-ID, 404 for an unknown run", async () => {
    const { api, base } = await rig();
    const { runId } = await api.engine.submitRun({ document: diamond });
    const cases: [string, Record<string, string>, number, string][] = [
      [`/api/runs/${runId}/events?after=yesterday`, {}, 400, "QUERY_INVALID"],
      [`/api/runs/${runId}/events/stream?after=1-x`, {}, 400, "QUERY_INVALID"],
      [`/api/runs/${runId}/events/stream`, { "last-event-id": "nope" }, 400, "QUERY_INVALID"],
      [`/api/runs/${runId}/events?after=12`, { accept: "application/json" }, 400, "QUERY_INVALID"],
      [`/api/runs/${runId}/events?limit=1001`, { accept: "application/json" }, 400, "QUERY_INVALID"],
      [`/api/runs/${runId}/events?limit=0`, { accept: "application/json" }, 400, "QUERY_INVALID"],
      ["/api/runs/run_doesnotexist/events", {}, 404, "RUN_NOT_FOUND"],
      ["/api/runs/run_doesnotexist/events/stream", {}, 404, "RUN_NOT_FOUND"],
      ["/api/runs/run_doesnotexist/events", { accept: "application/json" }, 404, "RUN_NOT_FOUND"],
    ];
    for (const [path, headers, status, code] of cases) {
      const response = await fetch(`${base}${path}`, {
        headers: { accept: "text/event-stream", ...headers },
      });
      expect(response.status, path).toBe(status);
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code, path).toBe(code);
      expect(body.error.message).toMatch(/\w/);
    }
  });

  it("sends a keep-alive comment while the run is quiet, and needs the token when API_TOKEN is set", async () => {
    const { api, base } = await rig({ apiToken: "s3cret", sse: { keepAliveMs: 50 } });
    const { runId } = await api.engine.submitRun({ document: diamond });
    const denied = await fetch(`${base}/api/runs/${runId}/events/stream`);
    expect(denied.status).toBe(401);
    const client = await open(`${base}/api/runs/${runId}/events/stream?token=s3cret`);
    await client.waitUntil(() => client.comments.length >= 2);
    expect(client.comments[0]).toBe("keep-alive");
    expect(client.messages).toEqual([]);
  });

  it("ends open streams when the API shuts down, and close() does not wait for them", async () => {
    const { api, base } = await rig();
    const { runId } = await api.engine.submitRun({ document: diamond });
    const clients = await Promise.all([1, 2, 3].map(() => open(`${base}/api/runs/${runId}/events`)));
    await api.close();
    await Promise.all(clients.map((client) => client.ended));
  });
});

describe("GET /api/runs/{id}/events as JSON", () => {
  it("pages with limit and next_after: the pages joined are the run's events, and the last says null", async () => {
    const { api, base, worker } = await rig();
    await worker();
    const { runId } = await api.engine.submitRun({ document: diamond });
    await api.engine.waitForRun(runId, 15_000);
    const all = await storedEvents(base, runId);
    const response = await fetch(`${base}/api/runs/${runId}/events`);
    expect(response.headers.get("vary")).toBe("Accept");
    expect(await response.json()).toEqual({ events: all, next_after: null, expired: false });

    const paged: Stored[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const query: string = after === null ? "?limit=4" : `?limit=4&after=${after}`;
      const page = await getJson<{ events: Stored[]; next_after: string | null }>(
        base,
        `/api/runs/${runId}/events${query}`,
      );
      expect(page.events.length).toBeLessThanOrEqual(4);
      paged.push(...page.events);
      if (page.next_after !== null) expect(page.next_after).toBe(page.events.at(-1)?.event_id);
      after = page.next_after;
      pages += 1;
    } while (after !== null);
    expect(paged).toEqual(all);
    expect(pages).toBe(Math.ceil(all.length / 4));
  });
});

describe("an SSE session", () => {
  const event = (id: string, type = "node_progress"): RunEvent =>
    ({ event_id: id, type, run_id: "run_a", pipeline_id: "p", timestamp: "t" }) as RunEvent;
  const engine = (stored: RunEvent[]) =>
    ({
      runs: {
        control: () => Promise.resolve({ status: "running", halt: "", haltNode: "", startedAt: null }),
        events: () => Promise.resolve(stored),
      },
    }) as unknown as Pick<Engine, "runs">;
  /** A sink whose connection takes nothing: every write stays pending, as with a client that does not read. */
  function stuckSink() {
    const written: string[] = [];
    const sink = {
      write: vi.fn((text: string) => {
        written.push(text);
        return new Promise<void>(() => undefined);
      }),
      close: vi.fn(() => Promise.resolve()),
      destroy: vi.fn(),
      finished: () => new Promise<void>(() => undefined),
    } satisfies SseSink;
    return { sink, written };
  }
  const tuning: SseTuning = { keepAliveMs: 60_000, maxPendingBytes: 2048, stallMs: 60_000, closeGraceMs: 20 };
  const big = (id: string, size: number): RunEvent =>
    ({ ...event(id), message: "x".repeat(size) }) as RunEvent;
  /** A sink whose connection takes each write when the test says so, as a client that reads slowly. */
  function slowSink() {
    const written: string[] = [];
    const waiting: (() => void)[] = [];
    const sink = {
      write: vi.fn((text: string) => {
        written.push(text);
        return new Promise<void>((resolve) => waiting.push(resolve));
      }),
      close: vi.fn(() => Promise.resolve()),
      destroy: vi.fn(),
      finished: () => Promise.resolve(),
    } satisfies SseSink;
    const takeAll = () => waiting.splice(0).forEach((resolve) => resolve());
    return { sink, written, takeAll, waiting };
  }

  it("cuts off a client that does not read once over maxPendingBytes, and stops following the run", async () => {
    const live = new LiveEvents();
    const { sink, written } = stuckSink();
    const session = new SseSession(engine([event("1-0")]), live, sink, "run_a", "0-0", tuning);
    const done = session.run();
    await vi.waitFor(() => expect(written).toHaveLength(1));
    expect(written[0]).toMatch(/^id: 1-0\nevent: node_progress\ndata: \{.*\}\n\n$/);
    expect(live.size).toBe(1);
    for (let i = 2; i < 100 && sink.destroy.mock.calls.length === 0; i += 1) live.publish(event(`${i}-0`));
    await done;
    expect(sink.destroy).toHaveBeenCalledTimes(1);
    // Cut at the first event that finds over the limit waiting (less the largest write, ~100 bytes).
    const largest = Math.max(...written.map((text) => text.length));
    expect(written.join("").length - largest).toBeGreaterThan(tuning.maxPendingBytes);
    expect(written.slice(0, -1).join("").length - largest).toBeLessThanOrEqual(tuning.maxPendingBytes);
    expect(live.size).toBe(0);
    live.publish(event("200-0"));
    expect(sink.write.mock.calls.length).toBe(written.length);
  });

  it("paces a replay by what the client takes: never cut while it reads, however big the replay or one event", async () => {
    const live = new LiveEvents();
    const { sink, written, takeAll, waiting } = slowSink();
    // 40 events of 1 KiB (20 times the limit), one of 10 KiB (5 times it), then the run's end.
    const stored = [
      ...Array.from({ length: 40 }, (_, i) => big(`${i + 1}-0`, 1024)),
      big("41-0", 10 * 1024),
      event("42-0", "pipeline_completed"),
    ];
    const session = new SseSession(engine(stored), live, sink, "run_a", "0-0", tuning);
    const done = session.run();
    let reads = 0;
    while (written.length < stored.length) {
      // The replay stops once the limit is pending, and goes on only when the client takes it.
      await vi.waitFor(() => expect(waiting.length).toBeGreaterThan(0), { interval: 5 });
      const pending = written.slice(written.length - waiting.length).join("").length;
      expect(pending).toBeLessThan(tuning.maxPendingBytes + 11 * 1024);
      const before = written.length;
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (written.length === stored.length) break;
      expect(written.length).toBe(before);
      takeAll();
      reads += 1;
    }
    takeAll();
    await done;
    expect(reads).toBeGreaterThan(10);
    expect(written.map((text) => /^id: (\S+)/.exec(text)?.[1])).toEqual(stored.map((e) => e.event_id));
    expect(sink.destroy).not.toHaveBeenCalled();
    expect(sink.close).toHaveBeenCalledTimes(1);
  });

  it("writes a live event bigger than the limit, and those after it, to a client taking it", async () => {
    const live = new LiveEvents();
    const { sink, written, takeAll } = slowSink();
    const session = new SseSession(engine([event("1-0")]), live, sink, "run_a", "0-0", tuning);
    const done = session.run();
    // Once the replayed event is out, the session is live.
    await vi.waitFor(() => expect(written).toHaveLength(1), { interval: 5 });
    live.publish(big("2-0", 3 * tuning.maxPendingBytes));
    live.publish(event("3-0"));
    live.publish(event("4-0"));
    expect(written).toHaveLength(4);
    expect(sink.destroy).not.toHaveBeenCalled();
    takeAll();
    live.publish(event("5-0", "pipeline_completed"));
    await done;
    expect(written.map((text) => /^id: (\S+)/.exec(text)?.[1])).toEqual(["1-0", "2-0", "3-0", "4-0", "5-0"]);
    expect(sink.destroy).not.toHaveBeenCalled();
    expect(sink.close).toHaveBeenCalledTimes(1);
  });

  it("cuts a client that stops reading during a replay once it has taken nothing for stallMs", async () => {
    const live = new LiveEvents();
    const { sink, written } = stuckSink();
    const stored = Array.from({ length: 20 }, (_, i) => big(`${i + 1}-0`, 1024));
    const session = new SseSession(engine(stored), live, sink, "run_a", "0-0", { ...tuning, stallMs: 100 });
    const started = Date.now();
    await session.run();
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
    expect(sink.destroy).toHaveBeenCalledTimes(1);
    // It stopped at the limit: the rest of the replay was never written.
    expect(written.length).toBeLessThan(stored.length);
    expect(written.join("").length).toBeLessThan(tuning.maxPendingBytes + 2 * 1024);
    expect(live.size).toBe(0);
  });

  it("after a gap in the live events, sends what it missed from the run's stream, once each, in order", async () => {
    const live = new LiveEvents();
    const written: string[] = [];
    const sink: SseSink = {
      write: (text) => Promise.resolve(void written.push(text)),
      close: vi.fn(() => Promise.resolve()),
      destroy: vi.fn(),
      finished: () => Promise.resolve(),
    };
    const stored = [event("1-0")];
    const fake = engine(stored);
    const session = new SseSession(fake, live, sink, "run_a", "0-0", tuning);
    const done = session.run();
    await vi.waitFor(() => expect(written).toHaveLength(1), { interval: 5 });
    // Two events the tail never handed on (trimmed from the global stream unread), then the gap.
    stored.push(event("2-0"), event("3-0"));
    const resynced = resyncFollowers(fake.runs, { lastId: "1-0" });
    live.publish(event("3-0"));
    live.publish(event("4-0"));
    expect(await resynced).toEqual({ followers: 1, failed: 0 });
    live.publish(event("5-0", "pipeline_completed"));
    await done;
    expect(written.map((text) => /^id: (\S+)/.exec(text)?.[1])).toEqual(["1-0", "2-0", "3-0", "4-0", "5-0"]);
    expect(await resyncFollowers(fake.runs, { lastId: "5-0" })).toEqual({ followers: 0, failed: 0 });
  });

  it("at shutdown ends the stream in order, and cuts it if the client has not taken it within the grace", async () => {
    const live = new LiveEvents();
    const { sink } = stuckSink();
    const session = new SseSession(engine([]), live, sink, "run_a", "0-0", tuning);
    const done = session.run();
    await vi.waitFor(() => expect(live.size).toBe(1));
    await session.shutdown();
    await done;
    expect(sink.close).toHaveBeenCalledTimes(1);
    expect(sink.destroy).toHaveBeenCalledTimes(1);
    expect(live.size).toBe(0);
  });

  it("ends after a live end event, and only after it", async () => {
    const live = new LiveEvents();
    const written: string[] = [];
    const close = vi.fn(() => Promise.resolve());
    const destroy = vi.fn();
    const sink: SseSink = {
      write: (text) => Promise.resolve(void written.push(text)),
      close,
      destroy,
      finished: () => Promise.resolve(),
    };
    // The replay holds an earlier failure followed by a resume: that end is history, not the end.
    const stored = [event("1-0", "pipeline_error"), event("2-0", "pipeline_resumed")];
    const session = new SseSession(engine(stored), live, sink, "run_a", "0-0", tuning);
    const done = session.run();
    await vi.waitFor(() => expect(written).toHaveLength(2));
    live.publish(event("2-0"));
    live.publish(event("3-0", "node_completed"));
    live.publish(event("4-0", "pipeline_completed"));
    live.publish(event("5-0"));
    await done;
    expect(written.map((text) => /^id: (\S+)/.exec(text)?.[1])).toEqual(["1-0", "2-0", "3-0", "4-0"]);
    expect(close).toHaveBeenCalledTimes(1);
    expect(destroy).not.toHaveBeenCalled();
  });
});

function byStreamId(a: string, b: string): number {
  const [am = 0n, as = 0n] = a.split("-").map(BigInt);
  const [bm = 0n, bs = 0n] = b.split("-").map(BigInt);
  return am !== bm ? (am < bm ? -1 : 1) : as === bs ? 0 : as < bs ? -1 : 1;
}
