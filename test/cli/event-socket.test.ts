import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { ApiClient } from "../../src/client/http-client.js";
import { RunEventSocket } from "../../src/cli/event-socket.js";
import type { RunEvent } from "../../src/cli/wire.js";

// The CLI's run socket against a stand-in for /ws that the test scripts, connection by connection.

const servers: WebSocketServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    for (const client of server.clients) client.terminate();
    await new Promise((resolve) => server.close(resolve));
  }
});

const event = (id: string, type = "node_executing") => ({
  event_id: id,
  run_id: "run_x",
  pipeline_id: "p",
  timestamp: new Date().toISOString(),
  type,
  node_id: "a",
});

/** A /ws whose n-th connection (from 0) is handed to script[n]; each connection's query is kept. */
async function fakeWs(script: ((socket: WebSocket) => void)[]) {
  const server = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  servers.push(server);
  await new Promise((resolve) => server.once("listening", resolve));
  const queries: URLSearchParams[] = [];
  server.on("connection", (socket, request) => {
    queries.push(new URL(request.url ?? "/", "http://x").searchParams);
    script[queries.length - 1]?.(socket);
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, queries };
}

describe("RunEventSocket", () => {
  it("takes REDIS_UNAVAILABLE on subscribe as a drop: reconnects with after= the last event, misses none", async () => {
    const redisDown = JSON.stringify({
      type: "error",
      error: {
        code: "REDIS_UNAVAILABLE",
        message: "could not subscribe to run 'run_x': Connection is closed.",
      },
    });
    const ws = await fakeWs([
      (socket) => {
        socket.send(JSON.stringify(event("1-0")));
        socket.send(redisDown);
      },
      (socket) => socket.send(redisDown),
      (socket) => {
        socket.send(JSON.stringify(event("1-0"))); // a repeat: not shown twice
        socket.send(JSON.stringify(event("2-0", "node_completed")));
        socket.send(JSON.stringify({ type: "subscribed", run_id: "run_x", replayed: 1 }));
      },
    ]);
    const events: string[] = [];
    const lost: string[] = [];
    const fatal: Error[] = [];
    const api = new ApiClient({ baseUrl: ws.url, token: undefined });
    let socket: RunEventSocket | undefined;
    await new Promise<void>((resolve) => {
      socket = new RunEventSocket(
        api,
        "run_x",
        {
          event: (e: RunEvent) => events.push(e.event_id),
          live: () => resolve(),
          lost: (reason) => lost.push(reason),
          fatal: (error) => (fatal.push(error), resolve()),
        },
        { after: "0-0" },
      );
      socket.open();
    });
    socket?.close();
    expect(fatal).toEqual([]);
    expect(events).toEqual(["1-0", "2-0"]);
    expect(ws.queries.map((query) => query.get("after"))).toEqual(["0-0", "1-0", "1-0"]);
    // Said once for the outage, in the API's words.
    expect(lost).toEqual(["could not subscribe to run 'run_x': Connection is closed."]);
  });

  it("still takes any other error event as the API's last word", async () => {
    const ws = await fakeWs([
      (socket) =>
        socket.send(
          JSON.stringify({ type: "error", error: { code: "RUN_NOT_FOUND", message: "no run 'run_x'" } }),
        ),
    ]);
    const error = await new Promise<Error>((resolve, reject) => {
      const socket = new RunEventSocket(
        new ApiClient({ baseUrl: ws.url, token: undefined }),
        "run_x",
        {
          event: () => undefined,
          live: () => reject(new Error("went live")),
          lost: () => undefined,
          fatal: resolve,
        },
        { after: "0-0" },
      );
      socket.open();
    });
    expect(error).toMatchObject({ code: "RUN_NOT_FOUND", message: "no run 'run_x'" });
    expect(ws.queries).toHaveLength(1);
  });
});
