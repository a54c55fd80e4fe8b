import { afterEach, describe, expect, it } from "vitest";
import type { ApiHandle } from "../../src/api/server.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { newPrefix, servo, startTestServer, startTestWorker } from "../support/context.js";
import { getJson } from "../support/http.js";
import { servoDiamond } from "../support/pipelines.js";
import { isRunEnd, TestSocket, type Message } from "../support/ws-client.js";

const devices = [servo("servo-1", { speed: 4000 }), servo("servo-2", { speed: 4000 })];
const diamond = servoDiamond("ws_diamond");

/** Every event's fields beyond event_id, type, run_id, pipeline_id and timestamp (the contract's table). */
const fieldsOf: Record<string, string[]> = {
  pipeline_started: ["pipeline_name", "node_count"],
  node_executing: ["node_id", "node_type", "function_id", "device_id", "attempt"],
  node_progress: ["node_id", "progress", "message"],
  node_completed: ["node_id", "outputs", "execution_time"],
  pipeline_completed: ["success", "execution_time", "nodes_executed"],
};

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function rig(
  servers = 1,
): Promise<{ apis: ApiHandle[]; prefix: string; worker: () => Promise<WorkerHandle> }> {
  const prefix = newPrefix();
  const apis: ApiHandle[] = [];
  for (let i = 0; i < servers; i += 1) {
    const api = await startTestServer(prefix, devices);
    cleanup.push(() => api.close());
    apis.push(api);
  }
  const worker = async () => {
    const handle = await startTestWorker(prefix, devices);
    cleanup.splice(servers, 0, () => handle.close()); // closed before the APIs
    return handle;
  };
  return { apis, prefix, worker };
}

async function connect(api: ApiHandle, query = ""): Promise<TestSocket> {
  const client = await TestSocket.open(`ws://127.0.0.1:${api.port}/ws${query}`);
  cleanup.push(() => client.close());
  return client;
}

const storedEvents = async (api: ApiHandle, runId: string) =>
  (await getJson<{ events: Message[] }>(`http://127.0.0.1:${api.port}`, `/api/runs/${runId}/events`)).events;

describe("WebSocket /ws: live events", () => {
  it("a client that subscribes to nothing receives a diamond run's every event, with every contract field", async () => {
    const { apis, worker } = await rig();
    const api = apis[0] as ApiHandle;
    await worker();
    const client = await connect(api);
    const { runId } = await api.engine.submitRun({ document: diamond });
    await client.waitFor(isRunEnd(runId));

    const events = client.events(runId);
    expect(events).toEqual(await storedEvents(api, runId));
    for (const event of events) {
      expect(event).toMatchObject({ run_id: runId, pipeline_id: "ws_diamond" });
      expect(event.event_id).toMatch(/^\d+-\d+$/);
      expect(Number.isNaN(Date.parse(String(event.timestamp)))).toBe(false);
      for (const field of fieldsOf[event.type] ?? ["missing"])
        expect(event, event.type).toHaveProperty(field);
    }
    const types = events.map((event) => event.type);
    expect(types[0]).toBe("pipeline_started");
    expect(types.at(-1)).toBe("pipeline_completed");
    expect(types.filter((type) => type === "node_executing")).toHaveLength(4);
    expect(types.filter((type) => type === "node_completed")).toHaveLength(4);
    expect(types).toContain("node_progress");
    const order = (type: string, node: string) =>
      events.findIndex((e) => e.type === type && e.node_id === node);
    expect(order("node_completed", "top")).toBeLessThan(order("node_executing", "left"));
    expect(order("node_completed", "right")).toBeLessThan(order("node_executing", "bottom"));
  });

  it("subscribe narrows a client to its runs, by message or by ?run_id=", async () => {
    const { apis, worker } = await rig();
    const api = apis[0] as ApiHandle;
    const x = await api.engine.submitRun({ document: diamond });
    const y = await api.engine.submitRun({ document: { ...diamond, id: "ws_other" } });
    const byMessage = await connect(api);
    byMessage.send({ action: "subscribe", run_id: x.runId });
    const byQuery = await connect(api, `?run_id=${y.runId}`);
    const everything = await connect(api);
    await byMessage.waitFor((m) => m.type === "subscribed" && m.run_id === x.runId);
    await byQuery.waitFor((m) => m.type === "subscribed" && m.run_id === y.runId);

    await worker();
    await everything.waitUntil(() => [x, y].every(({ runId }) => everything.messages.some(isRunEnd(runId))));
    await byMessage.waitFor(isRunEnd(x.runId));
    await byQuery.waitFor(isRunEnd(y.runId));
    expect(byMessage.events()).toEqual(await storedEvents(api, x.runId));
    expect(byQuery.events()).toEqual(await storedEvents(api, y.runId));
    expect(everything.events(x.runId)).toEqual(byMessage.events());
    expect(everything.events(y.runId)).toEqual(byQuery.events());

    byMessage.send({ action: "unsubscribe", run_id: x.runId });
    await byMessage.waitFor((m) => m.type === "unsubscribed" && m.run_id === x.runId);
  });

  it("a client reconnecting with after= gets the rest of the run exactly once: the union is the run's events", async () => {
    const { apis, worker } = await rig();
    const api = apis[0] as ApiHandle;
    await worker();
    const first = await connect(api);
    const { runId } = await api.engine.submitRun({ document: diamond });
    await first.waitFor((m) => m.run_id === runId && m.type === "node_completed");
    first.socket.terminate();
    const before = first.events(runId);
    const last = before.at(-1)?.event_id as string;

    const second = await connect(api, `?run_id=${runId}&after=${last}`);
    await second.waitFor(isRunEnd(runId));
    await second.waitFor((m) => m.type === "subscribed");
    const all = await storedEvents(api, runId);
    expect([...before, ...second.events()]).toEqual(all);

    // After the run, "after" in a subscribe message replays from any point.
    const third = await connect(api);
    third.send({ action: "subscribe", run_id: runId, after: all[2]?.event_id });
    const ack = await third.waitFor((m) => m.type === "subscribed");
    expect(ack).toMatchObject({ run_id: runId, replayed: all.length - 3 });
    expect(third.events()).toEqual(all.slice(3));
  });

  it("two API servers on one Redis: a client on each sees the same run's events in the same order", async () => {
    const { apis, worker } = await rig(2);
    const [one, two] = apis as [ApiHandle, ApiHandle];
    await worker();
    const onOne = await connect(one);
    const onTwo = await connect(two);
    const { runId } = await one.engine.submitRun({ document: diamond });
    await onOne.waitFor(isRunEnd(runId));
    await onTwo.waitFor(isRunEnd(runId));
    expect(onOne.events(runId).length).toBeGreaterThan(8);
    expect(onTwo.events(runId)).toEqual(onOne.events(runId));
    expect(onOne.events(runId)).toEqual(await storedEvents(two, runId));
  });
});
