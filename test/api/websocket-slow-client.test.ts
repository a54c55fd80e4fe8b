import { createHash } from "node:crypto";
import type { Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { ApiHandle } from "../../src/api/server.js";
import { connectRedis, defaultEventRetention } from "../../src/engine/index.js";
import { appendProgress } from "../../src/engine/redis/progress.js";
import { newPrefix, redisUrl, servo, startTestServer } from "../support/context.js";
import { getJson } from "../support/http.js";
import { doc, move } from "../support/pipelines.js";
import { allStoredEvents, appendProgressEvents } from "../support/run-events.js";
import { parseFrames, RawWsClient, tcpEstablished, tcpState } from "../support/raw-ws-client.js";
import { TestSocket, type Message } from "../support/ws-client.js";

const devices = [servo("servo-1")];
/** Small, so that a client that stops reading goes over it quickly. */
const maxBufferedBytes = 64 * 1024;
/**
 * One event bigger than all the kernel holds for a loopback client that does not read (on Linux
 * about 4 MiB: the sender's buffer grows to tcp_wmem's max, 4 MiB by default, the reader's stays
 * at its first 128 KiB), plus the limit. Once it is sent, a non-reading client's bytes wait in the
 * server's own buffer, over the limit, so the *next* event is the one that closes it: that makes
 * the moment of the close known, instead of somewhere in a stream of events.
 */
const bigMessageBytes = 8 * 1024 * 1024;
/**
 * How long an event may take from its append to its receipt by every normal client. Idle, it takes
 * a few ms (one Redis round trip to append, the tail's XREAD, a loopback write). The server cuts a
 * client that does not read the close frame off a full second after closing it, so a hub that made
 * the others wait for the slow client (a send that waits for its drain, one loop per client...)
 * would show delays of about that second; half of it leaves ~100x the idle delay for a loaded
 * 2-core machine's scheduling and GC pauses (after 8 MiB strings), and still tells the two apart.
 */
const receiptBoundMs = 500;
/** How long the server may take to cut off the client that never reads, after closing it. */
const cutOffWithinMs = 5000;

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function connect(api: ApiHandle, query = ""): Promise<TestSocket> {
  const client = await TestSocket.open(`ws://127.0.0.1:${api.port}/ws${query}`);
  cleanup.push(() => client.socket.terminate());
  return client;
}

const subscribed = (m: Message) => m.type === "subscribed";
const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");
/** Events with the big message replaced by its size and hash, so that a failed comparison stays readable. */
const summary = (events: readonly object[]) =>
  (events as Message[]).map((event) =>
    typeof event.message === "string" && event.message.length > 1000
      ? { ...event, message: `${event.message.length} chars, sha1 ${sha1(event.message)}` }
      : event,
  );

describe("WebSocket /ws: a client that stops reading", () => {
  it("is closed (1013 and a reason, or cut off if it never reads); the others receive every event, on time; the server stays up", async () => {
    const api = await startTestServer(newPrefix(), devices, {
      // The heartbeat would drop a non-reading client too (no pong): keep it out of the way.
      ws: { maxBufferedBytes, heartbeatMs: 60_000 },
    });
    cleanup.push(() => api.close());
    const redis = connectRedis(redisUrl(), { blocking: false, name: "test-progress" });
    cleanup.push(() => redis.quit());
    // No worker: the run stays queued, and its events are those this test appends through
    // appendProgress, a worker's own path (node-progress.lua: the run's stream, then the global one).
    const { runId, pipelineId } = await api.engine.submitRun({
      document: doc("ws_slow", [move("a", "servo-1", 10)]),
    });
    const ref = { runId, pipelineId, nodeId: "a", epoch: 0, deviceId: "servo-1", fence: "" };
    const append = (progress: number, message: string) =>
      appendProgress(redis, api.engine.keys, ref, progress, message, defaultEventRetention);

    // Three clients that read: two follow the run, one follows everything.
    const following = [await connect(api, `?run_id=${runId}`), await connect(api, `?run_id=${runId}`)];
    const normal = [...following, await connect(api)];
    const receivedAt = new WeakMap<Message, number>();
    for (const client of normal) {
      // Runs after TestSocket's own listener, which has just stored the message.
      client.socket.on("message", () => receivedAt.set(client.messages.at(-1) as Message, performance.now()));
    }
    // Two that stop reading: a ws client whose TCP socket is paused, and a raw socket that never reads.
    const paused = await connect(api, `?run_id=${runId}`);
    await Promise.all([...following, paused].map((client) => client.waitFor(subscribed)));
    const raw = await RawWsClient.open(api.port, "/ws");
    cleanup.push(() => raw.close());
    const pausedSocket = (paused.socket as unknown as { _socket: Socket })._socket;
    pausedSocket.pause();

    const everyoneHas = (match: (m: Message) => boolean) =>
      Promise.all(normal.map((client) => client.waitFor(match)));
    const latencies: number[] = [];
    /** Appends a small event and waits until every normal client has it; notes each one's delay. */
    const timed = async (message: string) => {
      const at = performance.now();
      await append(0.7, message);
      const received = await everyoneHas((m) => m.message === message);
      latencies.push(...received.map((m) => (receivedAt.get(m) ?? Infinity) - at));
    };

    for (let step = 1; step <= 5; step += 1) await append(step / 10, `step ${step}`);
    await everyoneHas((m) => m.message === "step 5");
    await append(0.6, "x".repeat(bigMessageBytes));
    await everyoneHas((m) => typeof m.message === "string" && m.message.length === bigMessageBytes);

    // The slow two hold most of the big event in the server's buffer: this one closes them.
    await timed("marker");
    // The paused client reads again, at once: it gets what was sent before its close, then the close.
    pausedSocket.resume();
    // Meanwhile the server waits a grace period for the raw client to answer its close frame, which
    // it never reads, then cuts it off: the kernel shows the server's end of it closed. All the while
    // the others receive each event within the bound.
    const closedAt = performance.now();
    let sent = 0;
    while (tcpState(api.port, raw.localPort) === tcpEstablished) {
      if (performance.now() - closedAt > cutOffWithinMs) break;
      await timed(`while closing ${(sent += 1)}`);
    }
    expect(tcpState(api.port, raw.localPort), "the server's end of the raw client's connection").not.toBe(
      tcpEstablished,
    );
    expect(sent).toBeGreaterThan(0);
    expect(Math.max(...latencies), `delays (ms): ${latencies.map(Math.round).join(" ")}`).toBeLessThan(
      receiptBoundMs,
    );

    const stored = await api.engine.runEvents(runId);
    expect(stored).toHaveLength(7 + sent);
    for (const client of normal) expect(summary(client.events(runId))).toEqual(summary(stored));
    // Closed with 1013 and a reason, having received everything up to the big event and nothing after.
    expect(await paused.closed).toEqual({ code: 1013, reason: expect.stringMatching(/too slow/) as string });
    expect(summary(paused.events())).toEqual(summary(stored.slice(0, 6)));

    // The raw client reads at last: the events before the big one, part of the big one (all the
    // kernel held), then the end of the connection. The close frame never reached it: it waited in
    // the server's buffer behind the big event, and went with the connection.
    const { bytes } = await raw.readToEnd();
    const { frames, incompleteBytes } = parseFrames(bytes);
    expect(frames.map((frame) => frame.opcode)).toEqual([1, 1, 1, 1, 1]);
    expect(frames.map((frame) => JSON.parse(frame.payload.toString()) as unknown)).toEqual(
      stored.slice(0, 5),
    );
    expect(incompleteBytes).toBeLessThan(bigMessageBytes);

    // The server is up, and a new client catches up from the marker and goes live.
    expect((await getJson<{ status: string }>(`http://127.0.0.1:${api.port}`, "/healthz")).status).toBe("ok");
    const markerId = stored[6]?.event_id as string;
    const fresh = await connect(api, `?run_id=${runId}&after=${markerId}`);
    const ack = await fresh.waitFor(subscribed);
    expect(ack).toMatchObject({ run_id: runId, replayed: sent });
    await append(1, "after all");
    await fresh.waitFor((m) => m.message === "after all");
    await everyoneHas((m) => m.message === "after all");
    expect(fresh.events()).toEqual(await api.engine.runEvents(runId, markerId));
  });

  it("is not what a reading client catching up on several MiB is: the replay goes at the client's pace, whole", async () => {
    const api = await startTestServer(newPrefix(), devices, {
      ws: { maxBufferedBytes, heartbeatMs: 60_000 },
    });
    cleanup.push(() => api.close());
    const { runId, pipelineId } = await api.engine.submitRun({
      document: doc("ws_catch_up", [move("a", "servo-1", 10)]),
    });
    // 1,000 events of 8 KiB: one page of the replay, 8 MiB sent in one go unless paced; over the
    // ~4 MiB a loopback socket's kernel buffers take, and 128 times the send buffer's limit.
    const messages = Array.from({ length: 1000 }, (_, i) => `${i} `.padEnd(8192, "x"));
    await appendProgressEvents(api, { runId, pipelineId, nodeId: "a" }, messages);
    const stored = await allStoredEvents(`http://127.0.0.1:${api.port}`, runId);
    // No worker: the run never starts, and its stream holds just these events.
    expect(stored.length).toBe(messages.length);

    const client = await connect(api, `?run_id=${runId}&after=0-0`);
    const answer = await client.waitFor(subscribed, 30_000);
    expect(answer).toMatchObject({ run_id: runId, replayed: stored.length });
    expect(client.errors()).toEqual([]);
    expect(client.socket.readyState).toBe(client.socket.OPEN);
    const events = client.messages.filter((m) => m.type !== "subscribed");
    expect(events.map((e) => e.event_id)).toEqual(stored.map((e) => e.event_id));
    expect(events.every((e, i) => e.message === stored[i]?.message)).toBe(true);
  });
});
