import { afterEach, describe, expect, it } from "vitest";
import type { ApiHandle } from "../../src/api/server.js";
import { newPrefix, servo, startTestServer } from "../support/context.js";
import { seedDemo } from "../support/pipelines.js";
import { TestSocket } from "../support/ws-client.js";

const devices = [servo("servo-1")];
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function server(options: Parameters<typeof startTestServer>[2] = {}): Promise<ApiHandle> {
  const api = await startTestServer(newPrefix(), devices, options);
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

  it("limits the runs one connection follows", async () => {
    const api = await server({ ws: { maxSubscriptions: 2 } });
    const runs = await Promise.all([1, 2, 3].map(() => api.engine.submitRun({ document: seedDemo })));
    const client = await connect(api);
    for (const { runId } of runs) client.send({ action: "subscribe", run_id: runId });
    const error = await client.waitFor((m) => m.type === "error");
    expect(error).toMatchObject({ error: { code: "TOO_MANY_SUBSCRIPTIONS", details: { limit: 2 } } });
    await client.waitUntil(() => client.messages.filter((m) => m.type === "subscribed").length === 2);
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
