import { describe, expect, it, vi } from "vitest";
import type WebSocket from "ws";
import { ClientSession, slowClientCloseCode } from "../../src/api/ws/client-session.js";
import type { Engine, RunEvent } from "../../src/engine/index.js";

const event = (id: string, runId = "run_a"): RunEvent => ({
  event_id: id,
  type: "node_progress",
  run_id: runId,
  pipeline_id: "p",
  timestamp: "2024-01-01T00:00:00.000Z",
  node_id: "n",
  progress: 0.5,
  message: id,
});

function fakeSocket() {
  const sent: Record<string, unknown>[] = [];
  const socket = {
    readyState: 1,
    OPEN: 1,
    bufferedAmount: 0,
    send: vi.fn((text: string) => void sent.push(JSON.parse(text) as Record<string, unknown>)),
    close: vi.fn(),
    terminate: vi.fn(),
  };
  return { socket, sent, ws: socket as unknown as WebSocket };
}

/** An engine whose run stream read waits until the test lets it answer. */
function fakeEngine(stored: RunEvent[]) {
  let answer: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (answer = resolve));
  const events = vi.fn(async (_runId: string, after: string) => {
    await gate;
    return stored.filter((e) => BigInt(e.event_id.split("-")[0] ?? 0) > BigInt(after.split("-")[0] ?? 0));
  });
  const engine = {
    runs: {
      control: vi.fn(() => Promise.resolve({ status: "running", halt: "", haltNode: "", startedAt: null })),
      events,
    },
  };
  return { engine: engine as unknown as Engine, events, answer };
}

const limits = { maxBufferedBytes: 1024, maxSubscriptions: 10, maxMessagesPerSecond: 50 };

describe("a client session", () => {
  it("catches up with no gap and no duplicate: live events during the replay wait, those replayed are dropped", async () => {
    const { engine, events, answer } = fakeEngine([event("1-0"), event("2-0"), event("3-0")]);
    const { ws, sent } = fakeSocket();
    const session = new ClientSession(ws, engine, limits);
    session.subscribe("run_a", "1-0");
    await vi.waitFor(() => expect(events).toHaveBeenCalled());
    // Live while the replay reads: 3-0 is also in the stream, 10-0 is newer (numerically, not as text).
    session.deliver(event("3-0"));
    session.deliver(event("10-0"));
    session.deliver(event("9-0", "run_other"));
    expect(sent).toEqual([]);
    answer();
    await vi.waitFor(() => expect(sent.at(-1)).toMatchObject({ type: "subscribed", replayed: 2 }));
    session.deliver(event("10-0"));
    session.deliver(event("11-0"));
    expect(sent.map((m) => m.event_id ?? m.type)).toEqual(["2-0", "3-0", "10-0", "subscribed", "11-0"]);
  });

  it("closes a client whose send buffer is over the limit, with a code and a reason", () => {
    const { socket, ws } = fakeSocket();
    const session = new ClientSession(ws, {} as Engine, limits);
    session.deliver(event("1-0"));
    expect(socket.send).toHaveBeenCalledTimes(1);
    socket.bufferedAmount = 4096;
    session.deliver(event("2-0"));
    expect(socket.send).toHaveBeenCalledTimes(1);
    expect(socket.close).toHaveBeenCalledWith(slowClientCloseCode, expect.stringContaining("too slow"));
    session.deliver(event("3-0"));
    expect(socket.close).toHaveBeenCalledTimes(1);
  });
});
