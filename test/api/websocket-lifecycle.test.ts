import { afterEach, describe, expect, it } from "vitest";
import type { ApiHandle } from "../../src/api/server.js";
import { newPrefix, servo, startTestServer, startTestWorker } from "../support/context.js";
import { getJson, postJson, type RunView } from "../support/http.js";
import { doc, move } from "../support/pipelines.js";
import { isRunEnd, TestSocket, type Message } from "../support/ws-client.js";
import { expectContractEvents, expectProgressWhileRunning, skeleton } from "../support/ws-events.js";

// servo() moves at 2000 units/s: a move of 10-40 takes 5-20 ms and reports progress.
const devices = [servo("servo-1"), servo("servo-2"), servo("flaky-1", { fail_first: { move: 1 } })];

const cleanup: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** An API server on port 0 and, when asked, an in-process worker, on a prefix of their own. */
async function rig() {
  const prefix = newPrefix();
  const api = await startTestServer(prefix, devices);
  cleanup.push(() => api.close());
  const base = `http://127.0.0.1:${api.port}`;
  const startWorker = async () => {
    const worker = await startTestWorker(prefix, devices, { shutdownGraceMs: 1000 });
    cleanup.push(() => worker.close());
  };
  return { api, base, startWorker };
}

async function submit(base: string, pipeline: unknown): Promise<string> {
  const { status, body } = await postJson<{ run_id: string }>(base, "/api/runs", { pipeline });
  expect(status).toBe(202);
  return body.run_id;
}

async function connect(api: ApiHandle, query = ""): Promise<TestSocket> {
  const client = await TestSocket.open(`ws://127.0.0.1:${api.port}/ws${query}`);
  cleanup.push(() => client.close());
  return client;
}

/** A client subscribed to the run (?run_id=), once the server says it is live. */
async function follow(api: ApiHandle, runId: string, after?: string): Promise<TestSocket> {
  const client = await connect(api, `?run_id=${runId}${after === undefined ? "" : `&after=${after}`}`);
  await client.waitFor((m) => m.type === "subscribed" && m.run_id === runId);
  return client;
}

const storedEvents = async (base: string, runId: string, after?: string) =>
  (
    await getJson<{ events: Message[] }>(
      base,
      `/api/runs/${runId}/events${after === undefined ? "" : `?after=${after}`}`,
    )
  ).events;

const runView = (base: string, runId: string) => getJson<RunView>(base, `/api/runs/${runId}`);

const ofType = (events: Message[], type: string, nodeId?: string) =>
  events.filter((e) => e.type === type && (nodeId === undefined || e.node_id === nodeId));

/**
 * Nothing more happens to a run that has ended: a probe run on servo-1 and servo-2, submitted after
 * the end, completes; a node job of the ended run still queued on either device would have come
 * before it (each device's queue is FIFO, capacity 1). (flaky-1 is left out: its first move fails.)
 */
async function settle(api: ApiHandle): Promise<void> {
  const probe = doc("ws_probe", [move("p1", "servo-1", 5), move("p2", "servo-2", 5)]);
  const { runId } = await api.engine.submitRun({ document: probe });
  const run = await api.engine.waitForRun(runId, 10_000);
  expect(run.status).toBe("completed");
}

describe("WebSocket /ws: events of a retry, a failure, a cancel and a resume", () => {
  it("a retry: node_executing #1, node_retrying, node_executing #2, node_completed, pipeline_completed", async () => {
    const { api, base, startWorker } = await rig();
    const pipeline = doc(
      "ws_retry",
      [{ ...move("a", "flaky-1", 40), retry: { attempts: 3, backoff_ms: 150 } }, move("b", "servo-1", 20)],
      [{ source: "a", target: "b" }],
    );
    // Subscribed before any worker runs it: the client sees the run from its first event.
    const runId = await submit(base, pipeline);
    const client = await follow(api, runId);
    await startWorker();
    await client.waitFor(isRunEnd(runId));

    const events = client.events(runId);
    expect(events).toEqual(await storedEvents(base, runId));
    expectContractEvents(events, runId, "ws_retry");
    expect(skeleton(events)).toEqual([
      "pipeline_started",
      "node_executing a #1",
      "node_retrying a",
      "node_executing a #2",
      "node_completed a",
      "node_executing b #1",
      "node_completed b",
      "pipeline_completed",
    ]);
    expectProgressWhileRunning(events);
    // The injected fault comes before the servo moves: the failed attempt reports no progress.
    const [retrying] = ofType(events, "node_retrying");
    const [first, second] = ofType(events, "node_executing", "a");
    expect(events.slice(events.indexOf(first as Message), events.indexOf(second as Message))).toEqual([
      first,
      retrying,
    ]);
    expect(retrying).toMatchObject({ node_id: "a", attempt: 2, delay_ms: 150 });
    expect(retrying?.error_message).toMatch(/^flaky-1: .*injected fault on call 1 of 'move'/);
    expect(first).toMatchObject({ function_id: "move", device_id: "flaky-1", node_type: "device" });
    // The next attempt waited the delay node_retrying announced (timestamps are in ms).
    const waited = Date.parse(String(second?.timestamp)) - Date.parse(String(retrying?.timestamp));
    expect(waited).toBeGreaterThanOrEqual(149);
    expect(ofType(events, "node_completed", "a")[0]).toMatchObject({
      outputs: { complete: true, position: 40 },
    });
    expect(events.at(-1)).toMatchObject({ type: "pipeline_completed", success: true, nodes_executed: 2 });
    expect(events[0]).toMatchObject({ pipeline_name: "ws_retry", node_count: 2 });

    const run = await runView(base, runId);
    expect(run.status).toBe("completed");
    expect(run.nodes.a).toMatchObject({ status: "completed", attempts: 2 });
    expect(run.nodes.b).toMatchObject({ status: "completed", attempts: 1 });
  });

  it("a failure: node_failed (error_message, error_type), then pipeline_error naming the node; its descendants never execute", async () => {
    const { api, base, startWorker } = await rig();
    // b's position is outside the servo's range: a device error that no retry can help (so none is tried).
    const pipeline = doc(
      "ws_failure",
      [
        move("a", "servo-1", 10),
        { ...move("b", "servo-2", 500), retry: { attempts: 3, backoff_ms: 50 } },
        move("c", "servo-1", 20),
        move("d", "servo-2", 30),
      ],
      [
        { source: "a", target: "b" },
        { source: "b", target: "c" },
        { source: "c", target: "d" },
      ],
    );
    const runId = await submit(base, pipeline);
    const client = await follow(api, runId);
    await startWorker();
    await client.waitFor(isRunEnd(runId));
    await settle(api);

    const events = client.events(runId);
    expect(events).toEqual(await storedEvents(base, runId));
    expectContractEvents(events, runId, "ws_failure");
    expect(skeleton(events)).toEqual([
      "pipeline_started",
      "node_executing a #1",
      "node_completed a",
      "node_executing b #1",
      "node_failed b",
      "pipeline_error b",
    ]);
    expectProgressWhileRunning(events);
    const [failed] = ofType(events, "node_failed");
    expect(failed).toMatchObject({ node_id: "b", error_type: "DEVICE_ERROR" });
    expect(failed?.error_message).toMatch(/^servo-2: .*position 500 is outside the servo's range \[0, 180\]/);
    const end = events.at(-1);
    expect(end).toMatchObject({ type: "pipeline_error", node_id: "b", error_type: "DEVICE_ERROR" });
    expect(end?.error_message).toContain("node 'b' failed");
    expect(end?.error_message).toContain(String(failed?.error_message));

    const run = await runView(base, runId);
    expect(run.status).toBe("failed");
    expect(run.nodes.b).toMatchObject({ status: "failed", attempts: 1 });
    for (const node of ["c", "d"]) expect(run.nodes[node]).toMatchObject({ status: "pending", attempts: 0 });
  });

  it("a cancel: a long move stopped through POST /cancel ends in pipeline_cancelled; the node never completes and its successor never starts", async () => {
    const { api, base, startWorker } = await rig();
    // 150 units at 15 units/s: a 10 s move, reporting progress every second.
    const long = { ...move("long", "servo-1", 150), params: { position: 150, speed: 15 } };
    const pipeline = doc(
      "ws_cancel",
      [move("first", "servo-2", 10), long, move("after", "servo-2", 20)],
      [
        { source: "first", target: "long" },
        { source: "long", target: "after" },
      ],
    );
    const runId = await submit(base, pipeline);
    const client = await follow(api, runId);
    await startWorker();
    // Cancel once the servo is surely moving: it has reported a step.
    await client.waitFor((m) => m.type === "node_progress" && m.node_id === "long");
    const cancel = await postJson<Record<string, unknown>>(base, `/api/runs/${runId}/cancel`, {});
    expect(cancel).toEqual({ status: 202, body: expect.objectContaining({ run_id: runId }) as object });
    const end = await client.waitFor(isRunEnd(runId));
    await settle(api);

    const events = client.events(runId);
    expect(events).toEqual(await storedEvents(base, runId));
    expectContractEvents(events, runId, "ws_cancel");
    // A cancelled node gets no node event of its own (the table has none): the run's end says it.
    expect(skeleton(events)).toEqual([
      "pipeline_started",
      "node_executing first #1",
      "node_completed first",
      "node_executing long #1",
      "pipeline_cancelled",
    ]);
    expectProgressWhileRunning(events);
    // No node applies to a cancel asked for from outside: node_id is there, and null.
    expect(end).toMatchObject({ type: "pipeline_cancelled", node_id: null });
    // Stopped part-way, well before the 10 s move could have ended.
    const progress = ofType(events, "node_progress", "long").map((e) => e.progress as number);
    expect(progress.length).toBeGreaterThan(0);
    expect(Math.max(...progress)).toBeLessThan(1);
    const began = ofType(events, "node_executing", "long")[0];
    expect(Date.parse(String(end.timestamp)) - Date.parse(String(began?.timestamp))).toBeLessThan(10_000);

    const run = await runView(base, runId);
    expect(run.status).toBe("cancelled");
    expect(run.nodes.first).toMatchObject({ status: "completed" });
    expect(run.nodes.long).toMatchObject({ status: "cancelled", outputs: null });
    expect(run.nodes.after).toMatchObject({ status: "pending", attempts: 0 });
    expect((await postJson(base, `/api/runs/${runId}/cancel`, {})).status).toBe(409);
  });

  it("a resume: POST /retry of the failed run gives pipeline_resumed, then only the failed node and its descendants run; a client reconnecting with after= gets exactly the resumed part, once", async () => {
    const { api, base, startWorker } = await rig();
    // b's first move fails (flaky-1's injected fault) and it has one attempt: the run fails at b.
    const pipeline = doc(
      "ws_resume",
      [
        move("a", "servo-1", 10),
        { ...move("b", "flaky-1", 30), retry: { attempts: 1, backoff_ms: 0 } },
        move("c", "servo-2", 20),
      ],
      [
        { source: "a", target: "b" },
        { source: "b", target: "c" },
      ],
    );
    const runId = await submit(base, pipeline);
    const live = await follow(api, runId);
    await startWorker();
    const failedEnd = await live.waitFor(isRunEnd(runId));
    expect(failedEnd).toMatchObject({ type: "pipeline_error", node_id: "b", error_type: "DEVICE_ERROR" });
    const beforeResume = live.events(runId);
    expect(skeleton(beforeResume)).toEqual([
      "pipeline_started",
      "node_executing a #1",
      "node_completed a",
      "node_executing b #1",
      "node_failed b",
      "pipeline_error b",
    ]);
    const lastBefore = String(failedEnd.event_id);

    const resumed = await postJson<Record<string, unknown>>(base, `/api/runs/${runId}/retry`, {});
    expect(resumed).toEqual({
      status: 202,
      body: expect.objectContaining({ run_id: runId, status: "running" }) as object,
    });
    // Reconnects while the resumed run goes on: its catch-up races the live events.
    const racing = await follow(api, runId, lastBefore);
    await live.waitFor((m) => m.type === "pipeline_completed" && m.run_id === runId);
    await racing.waitFor((m) => m.type === "pipeline_completed");
    // Reconnects after the end: a replay alone.
    const late = await follow(api, runId, lastBefore);

    const all = await storedEvents(base, runId);
    const resumedPart = await storedEvents(base, runId, lastBefore);
    expect(live.events(runId)).toEqual(all);
    expect(all).toEqual([...beforeResume, ...resumedPart]);
    expectContractEvents(all, runId, "ws_resume");
    expect(skeleton(resumedPart)).toEqual([
      "pipeline_resumed",
      "node_executing b #1",
      "node_completed b",
      "node_executing c #1",
      "node_completed c",
      "pipeline_completed",
    ]);
    expectProgressWhileRunning(resumedPart);
    expect(resumedPart[0]).toMatchObject({ type: "pipeline_resumed", node_id: null });
    expect(resumedPart.at(-1)).toMatchObject({
      type: "pipeline_completed",
      success: true,
      nodes_executed: 3,
    });
    // a completed before the failure: it keeps its outputs and never runs again.
    expect(ofType(all, "node_executing", "a")).toHaveLength(1);

    for (const client of [racing, late]) {
      expect(client.events()).toEqual(resumedPart);
      expect(client.errors()).toEqual([]);
    }
    expect(late.messages.find((m) => m.type === "subscribed")).toMatchObject({
      replayed: resumedPart.length,
    });

    const run = await runView(base, runId);
    expect(run.status).toBe("completed");
    expect(run.nodes.a).toMatchObject({ status: "completed", attempts: 1 });
    expect(run.nodes.b).toMatchObject({ status: "completed", attempts: 1, outputs: { position: 30 } });
    expect(run.nodes.c).toMatchObject({ status: "completed", attempts: 1 });
  });
});
