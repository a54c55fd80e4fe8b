import { afterEach, describe, expect, it } from "vitest";
import type { ApiHandle } from "../../src/api/server.js";
import { newPrefix, servo, startTestServer, startTestWorker } from "../support/context.js";
import { seedDemo } from "../support/pipelines.js";
import { isRunEnd, TestSocket, type Message } from "../support/ws-client.js";

const devices = [servo("servo-1")];
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function server(
  options: Parameters<typeof startTestServer>[2] = {},
  prefix = newPrefix(),
): Promise<ApiHandle> {
  const api = await startTestServer(prefix, devices, options);
  let closed = false;
  const close = api.close.bind(api);
  api.close = async () => {
    if (closed) return;
    closed = true;
    await close();
  };
  cleanup.push(() => api.close());
  return api;
}

async function connect(api: ApiHandle, query = "", options = {}): Promise<TestSocket> {
  const client = await TestSocket.open(`ws://127.0.0.1:${api.port}/ws${query}`, options);
  cleanup.push(() => client.close());
  return client;
}

describe("WebSocket /ws: bad input, auth, heartbeat and shutdown", () => {
  it("answers each malformed message with an error event, and the connection stays", async () => {
    const api = await server();
    // No worker: the run stays queued, so it exists and stays quiet.
    const { runId } = await api.engine.submitRun({ document: seedDemo });
    const client = await connect(api);
    const cases: [unknown, string][] = [
      ["not json", "BODY_INVALID_JSON"],
      [[1, 2], "VALIDATION_FAILED"],
      [{ action: "dance", run_id: runId }, "VALIDATION_FAILED"],
      [{ action: "subscribe", run_id: "bad id!" }, "VALIDATION_FAILED"],
      [{ action: "subscribe" }, "VALIDATION_FAILED"],
      [JSON.stringify({ action: "subscribe", run_id: runId, pad: "x".repeat(5000) }), "PAYLOAD_TOO_LARGE"],
      [{ action: "subscribe", run_id: "run_doesnotexist" }, "RUN_NOT_FOUND"],
      [{ action: "subscribe", run_id: runId, after: "yesterday" }, "QUERY_INVALID"],
    ];
    for (const [index, [message, code]] of cases.entries()) {
      client.send(message);
      await client.waitUntil(() => client.errors().length === index + 1);
      const error = client.errors()[index];
      expect(error, JSON.stringify(message).slice(0, 80)).toMatchObject({ type: "error", error: { code } });
      expect((error?.error as { message: string }).message).toMatch(/\w/);
    }
    client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    await client.waitUntil(() => client.errors().length === cases.length + 1);

    client.send({ action: "subscribe", run_id: runId });
    await client.waitFor((m) => m.type === "subscribed" && m.run_id === runId);
    expect(client.socket.readyState).toBe(client.socket.OPEN);

    const bad = await connect(api, "?run_id=run_doesnotexist");
    await bad.waitFor((m) => m.type === "error" && (m.error as { code: string }).code === "RUN_NOT_FOUND");
  });

  it("answers an after over 2^64-1 with QUERY_INVALID, and follows from the greatest id with nothing replayed", async () => {
    const api = await server();
    const { runId } = await api.engine.submitRun({ document: seedDemo });
    const client = await connect(api);
    const code = (m: Message) => (m.error as { code: string } | undefined)?.code;
    client.send({ action: "subscribe", run_id: runId, after: "99999999999999999999-0" });
    await client.waitUntil(() => client.errors().length === 1);
    client.send({ action: "subscribe", run_id: runId, after: "1-18446744073709551616" });
    await client.waitUntil(() => client.errors().length === 2);
    expect(client.errors().map(code)).toEqual(["QUERY_INVALID", "QUERY_INVALID"]);
    const inQuery = await connect(api, `?run_id=${runId}&after=18446744073709551616-0`);
    const error = await inQuery.waitFor((m) => m.type === "error");
    expect(code(error)).toBe("QUERY_INVALID");

    client.send({ action: "subscribe", run_id: runId, after: "18446744073709551615-18446744073709551615" });
    const subscribed = await client.waitFor((m) => m.type === "subscribed");
    expect(subscribed).toEqual({ type: "subscribed", run_id: runId, replayed: 0 });
    expect(client.errors()).toHaveLength(2);
  });

  it("sends a client that named runs wrongly in its query an error, then none of any run's events", async () => {
    const prefix = newPrefix();
    const api = await server({}, prefix);
    const badId = await connect(api, "?run_id=bad!id");
    const afterAlone = await connect(api, "?after=1700000000000-0");
    const badAfter = await connect(api, "?run_id=run_abc&after=yesterday");
    for (const [client, expected] of [
      [badId, "VALIDATION_FAILED"],
      [afterAlone, "QUERY_INVALID"],
      [badAfter, "QUERY_INVALID"],
    ] as const) {
      const error = await client.waitFor((m) => m.type === "error");
      expect((error.error as { code: string }).code).toBe(expected);
    }
    // A client of every run's events, to know when the run's events have all gone out.
    const everything = await connect(api);
    const worker = await startTestWorker(prefix, devices);
    cleanup.push(() => worker.close());
    const { runId } = await api.engine.submitRun({ document: seedDemo });
    await everything.waitFor(isRunEnd(runId));
    expect(everything.events(runId).length).toBeGreaterThan(3);
    for (const client of [badId, afterAlone, badAfter]) {
      // A round trip on the same connection: anything sent before its answer has arrived.
      client.send({ action: "unsubscribe", run_id: runId });
      await client.waitFor((m) => m.type === "unsubscribed");
      expect(client.events()).toEqual([]);
      expect(client.messages.map((m) => m.type)).toEqual(["error", "unsubscribed"]);
    }
  });

  it("limits the runs one connection follows", async () => {
    const api = await server({ ws: { maxSubscriptions: 2 } });
    const runs = await Promise.all([1, 2, 3].map(() => api.engine.submitRun({ document: seedDemo })));
    const client = await connect(api);
    for (const { runId } of runs) client.send({ action: "subscribe", run_id: runId });
    const error = await client.waitFor((m) => m.type === "error");
    expect(error).toMatchObject({ error: { code: "TOO_MANY_SUBSCRIPTIONS", details: { limit: 2 } } });
    await client.waitUntil(() => client.messages.filter((m) => m.type === "subscribed").length === 2);
  });

  it("closes a connection that sends over 50 messages a second: an error event, then 1008", async () => {
    const api = await server();
    const { runId } = await api.engine.submitRun({ document: seedDemo });
    const client = await connect(api);
    for (let i = 0; i < 60; i += 1) client.send({ action: "unsubscribe", run_id: runId });
    const error = await client.waitFor((m) => m.type === "error");
    expect(error).toMatchObject({ error: { code: "RATE_LIMITED", details: { limit: 50 } } });
    expect((await client.closed).code).toBe(1008);
    // At most the allowed 50 were answered; the process goes on serving others.
    expect(client.messages.filter((m) => m.type === "unsubscribed").length).toBeLessThanOrEqual(50);
    const other = await connect(api);
    other.send({ action: "subscribe", run_id: runId });
    await other.waitFor((m) => m.type === "subscribed");
  });

  it("needs the API token when API_TOKEN is set: 401 on the upgrade without it", async () => {
    const api = await server({ apiToken: "s3cret" });
    await expect(TestSocket.open(`ws://127.0.0.1:${api.port}/ws`)).rejects.toThrow(/401/);
    await expect(TestSocket.open(`ws://127.0.0.1:${api.port}/ws?token=wrong`)).rejects.toThrow(/401/);
    await connect(api, "?token=s3cret");
    await connect(api, "", { headers: { authorization: "Bearer s3cret" } });
    await expect(TestSocket.open(`ws://127.0.0.1:${api.port}/elsewhere?token=s3cret`)).rejects.toThrow(/404/);
  });

  it("drops a client that stops answering pings, and keeps the one that answers", async () => {
    const api = await server({ ws: { heartbeatMs: 100 } });
    const dead = await connect(api, "", { autoPong: false });
    const alive = await connect(api);
    const { code } = await dead.closed;
    expect(code).toBe(1006); // terminated, no close handshake
    expect(alive.socket.readyState).toBe(alive.socket.OPEN);
  });

  it("closes every WebSocket with 1001 when the server closes", async () => {
    const api = await server();
    const clients = await Promise.all([connect(api), connect(api)]);
    await api.close();
    for (const client of clients) {
      expect(await client.closed).toEqual({ code: 1001, reason: "server shutting down" });
    }
  });
});
