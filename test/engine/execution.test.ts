import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { createTestApi, servo, startTestWorker, withRig } from "../support/context.js";
import { doc, home, move } from "../support/pipelines.js";
import { expectRanInOrder, runToEnd } from "../support/runs.js";

const devices = [servo("servo-1"), servo("servo-2"), servo("servo-3")];
let api: ReturnType<typeof createTestApi>;
let worker: WorkerHandle;

beforeAll(async () => {
  api = createTestApi(devices);
  worker = await startTestWorker(api.prefix, devices);
});
afterAll(async () => {
  await worker.close();
  await api.close();
});

const edge = (source: string, target: string) => ({ source, target });
const feed = (source: string, target: string) => ({
  source,
  target,
  source_output: "position",
  target_input: "position",
});

describe("a DAG runs each node once, after all its predecessors, with mapped inputs", () => {
  it("a chain", async () => {
    const nodes = [
      home("a", "servo-1"),
      move("b", "servo-2", 40),
      move("c", "servo-1", 20),
      move("d", "servo-3", 10),
    ];
    const edges = [edge("a", "b"), feed("b", "c"), edge("c", "d")];
    const run = await runToEnd(api.engine, { ...doc("chain", nodes, edges), nodes: [...nodes].reverse() });
    await expectRanInOrder(api.engine, run, edges);
    expect(run.nodes.find((n) => n.nodeId === "c")?.outputs).toEqual({ complete: true, position: 40 });
  });

  it("a fan-out", async () => {
    const nodes = [
      home("root", "servo-1"),
      ...[1, 2, 3, 4, 5].map((i) => move(`leaf${i}`, `servo-${(i % 3) + 1}`, i * 10)),
    ];
    const edges = [1, 2, 3, 4, 5].map((i) => feed("root", `leaf${i}`));
    const run = await runToEnd(api.engine, doc("fanout", nodes, edges));
    await expectRanInOrder(api.engine, run, edges);
    for (const i of [1, 2, 3, 4, 5]) {
      // The edge overrides the static param: every leaf goes where root went.
      expect(run.nodes.find((n) => n.nodeId === `leaf${i}`)?.outputs).toEqual({
        complete: true,
        position: 0,
      });
    }
  });

  it("a fan-in", async () => {
    const nodes = [
      move("s1", "servo-1", 11),
      move("s2", "servo-2", 22),
      move("s3", "servo-3", 33),
      { id: "sink", device_id: "servo-1", function_id: "move" },
    ];
    const edges = [edge("s1", "sink"), feed("s2", "sink"), edge("s3", "sink")];
    const run = await runToEnd(api.engine, doc("fanin", nodes, edges));
    await expectRanInOrder(api.engine, run, edges);
    expect(run.nodes.find((n) => n.nodeId === "sink")?.outputs).toEqual({ complete: true, position: 22 });
  });

  it("a diamond with data mapping, with events in order", async () => {
    const nodes = [
      move("top", "servo-1", 70),
      move("left", "servo-2", 5),
      { id: "right", device_id: "servo-3", function_id: "move" },
      { id: "bottom", device_id: "servo-1", function_id: "move" },
    ];
    const edges = [
      edge("top", "left"),
      feed("top", "right"),
      edge("left", "bottom"),
      feed("right", "bottom"),
    ];
    const run = await runToEnd(api.engine, doc("diamond", nodes, edges));
    const events = await expectRanInOrder(api.engine, run, edges);
    expect(run.nodes.find((n) => n.nodeId === "bottom")?.outputs).toEqual({ complete: true, position: 70 });
    expect(events[0]).toMatchObject({ type: "pipeline_started", pipeline_id: "diamond", node_count: 4 });
    expect(events.at(-1)).toMatchObject({ type: "pipeline_completed", success: true, nodes_executed: 4 });
    const ids = events.map((event) => event.event_id);
    expect([...ids].sort((a, b) => compareIds(a, b))).toEqual(ids);
  });
});

describe("failures", () => {
  it("a device error fails the node and the run, and later nodes never start", async () => {
    const nodes = [move("ok", "servo-1", 10), move("bad", "servo-1", 999), move("after", "servo-2", 5)];
    const edges = [edge("ok", "bad"), edge("bad", "after")];
    const run = await runToEnd(api.engine, doc("fails", nodes, edges));
    expect(run.status).toBe("failed");
    expect(run.error).toMatchObject({ code: "DEVICE_ERROR", nodeId: "bad" });
    expect(run.error?.message).toContain("outside the servo's range");
    const state = Object.fromEntries(run.nodes.map((n) => [n.nodeId, n.status]));
    expect(state).toEqual({ ok: "completed", bad: "failed", after: "pending" });
    const events = await api.engine.runEvents(run.runId);
    expect(events.at(-1)).toMatchObject({
      type: "pipeline_error",
      node_id: "bad",
      error_type: "DEVICE_ERROR",
    });
  });

  it("a retried run re-runs only the failed node, and completed nodes keep their outputs", async () => {
    const nodes = [
      move("first", "servo-1", 10),
      move("second", "servo-2", 20),
      move("third", "servo-1", 500),
    ];
    const failing = doc("resume", nodes, [edge("first", "third"), edge("second", "third")]);
    const failed = await runToEnd(api.engine, failing);
    expect(failed.status).toBe("failed");
    const response = await api.post(`/api/runs/${failed.runId}/retry`, {});
    expect(response.status).toBe(202);
    expect((await api.post(`/api/runs/${failed.runId}/retry`, {})).status).toBe(409);
    const ended = await api.engine.waitForRun(failed.runId, 10_000);
    // Still out of range, so it fails again; the completed nodes did not run again.
    const events = await api.engine.runEvents(failed.runId);
    const executing = events
      .filter((e) => e.type === "node_executing")
      .map((e) => ("node_id" in e ? e.node_id : ""));
    expect(executing.filter((id) => id === "first")).toHaveLength(1);
    expect(executing.filter((id) => id === "second")).toHaveLength(1);
    expect(executing.filter((id) => id === "third")).toHaveLength(2);
    expect(events.some((e) => e.type === "pipeline_resumed")).toBe(true);
    expect(ended.status).toBe("failed");
    expect(ended.nodes.find((n) => n.nodeId === "first")?.outputs).toEqual({ complete: true, position: 10 });
  });

  it("cancel stops a running move and ends the run cancelled", async () => {
    const slow = doc(
      "slow",
      [
        { id: "long", device_id: "servo-2", function_id: "move", params: { position: 150, speed: 10 } },
        home("next", "servo-2"),
      ],
      [edge("long", "next")],
    );
    const { runId } = await api.engine.submitRun({ document: slow });
    await waitForEvent(runId, "node_executing");
    expect((await api.post(`/api/runs/${runId}/cancel`, {})).status).toBe(202);
    const run = await api.engine.waitForRun(runId, 10_000);
    expect(run.status).toBe("cancelled");
    expect(run.nodes.find((n) => n.nodeId === "long")?.status).toBe("cancelled");
    expect(run.nodes.find((n) => n.nodeId === "next")?.status).toBe("pending");
    expect((await api.post(`/api/runs/${runId}/cancel`, {})).status).toBe(409);
  });
});

async function waitForEvent(runId: string, type: string): Promise<void> {
  await vi.waitFor(
    async () => {
      const events = await api.engine.runEvents(runId);
      if (!events.some((event) => event.type === type)) throw new Error(`no ${type} yet`);
    },
    { timeout: 10_000, interval: 20 },
  );
}

function compareIds(a: string, b: string): number {
  const [am, as] = a.split("-").map(BigInt);
  const [bm, bs] = b.split("-").map(BigInt);
  if (am !== bm) return (am as bigint) < (bm as bigint) ? -1 : 1;
  return (as as bigint) < (bs as bigint) ? -1 : (as as bigint) > (bs as bigint) ? 1 : 0;
}

describe("resume after a transient fault", () => {
  it("completes the run; completed nodes are not run again, and nodes held back by the failure run", async () => {
    // 'flaky' fails its first move while 'steady' is still moving; when 'steady' completes, the run
    // is halted: its only successor's job, added in the same round trip, must not run.
    const devices = [
      servo("gate-1"),
      servo("flaky-1", { fail_first: { move: 1 } }),
      servo("steady-1", { speed: 100 }),
    ];
    await withRig(devices, async (local) => {
      const nodes = [
        move("gate_a", "gate-1", 10),
        move("gate_b", "gate-1", 20),
        move("flaky", "flaky-1", 10),
        move("steady", "steady-1", 10),
        move("after_steady", "steady-1", 11),
        move("join", "flaky-1", 20),
      ];
      const edges = [
        edge("gate_a", "gate_b"),
        edge("gate_b", "flaky"),
        edge("steady", "after_steady"),
        edge("flaky", "join"),
        edge("after_steady", "join"),
      ];
      const failed = await runToEnd(local.engine, doc("transient", nodes, edges));
      expect(failed.status).toBe("failed");
      const statusOf = (id: string) => failed.nodes.find((n) => n.nodeId === id)?.status;
      expect(statusOf("flaky")).toBe("failed");
      expect(statusOf("steady")).toBe("completed");
      expect(statusOf("after_steady")).toBe("pending");

      expect((await local.post(`/api/runs/${failed.runId}/retry`, {})).status).toBe(202);
      const resumed = await local.engine.waitForRun(failed.runId, 10_000);
      expect(resumed.status).toBe("completed");
      const events = await local.engine.runEvents(failed.runId);
      const executed = events.flatMap((e) => (e.type === "node_executing" ? [e.node_id] : []));
      expect(executed.sort()).toEqual([
        "after_steady",
        "flaky",
        "flaky",
        "gate_a",
        "gate_b",
        "join",
        "steady",
      ]);
      expect(events.at(-1)).toMatchObject({ type: "pipeline_completed", nodes_executed: 6 });
    });
  });
});

describe("node ids", () => {
  it("named like object keys or job-id parts run, fail, show and resume like any other", async () => {
    const devices = [servo("flaky-3", { fail_first: { move: 1 } })];
    await withRig(devices, async (local) => {
      const nodes = [home("a__1", "flaky-3"), move("a", "flaky-3", 5), home("constructor", "flaky-3")];
      const failed = await runToEnd(
        local.engine,
        doc("odd_ids", nodes, [edge("a__1", "a"), edge("a", "constructor")]),
      );
      expect(failed.status).toBe("failed");
      const shown = await local.get(`/api/runs/${failed.runId}`);
      expect(shown.status).toBe(200);
      const view = (await shown.json()) as { nodes: Record<string, { status: string } | undefined> };
      expect(view.nodes["constructor"]?.status).toBe("pending");
      expect((await local.post(`/api/runs/${failed.runId}/retry`, {})).status).toBe(202);
      const resumed = await local.engine.waitForRun(failed.runId, 10_000);
      expect(resumed.status).toBe("completed");
      const events = await local.engine.runEvents(failed.runId);
      const executed = events.flatMap((e) => (e.type === "node_executing" ? [e.node_id] : []));
      expect(executed.sort()).toEqual(["a", "a", "a__1", "constructor"]);
    });
  });
});

describe("cancel during a retry's backoff", () => {
  it("ends the run cancelled at once, not when the backoff runs out", async () => {
    const devices = [servo("flaky-4", { fail_first: { move: 1 } })];
    await withRig(devices, async (local) => {
      const slowRetry = { ...move("m", "flaky-4", 5), retry: { attempts: 3, backoff_ms: 60_000 } };
      const { runId } = await local.engine.submitRun({ document: doc("backoff", [slowRetry]) });
      await vi.waitFor(
        async () => {
          const events = await local.engine.runEvents(runId);
          expect(events.some((e) => e.type === "node_retrying" && e.delay_ms === 60_000)).toBe(true);
        },
        { timeout: 10_000, interval: 20 },
      );
      const response = await local.post(`/api/runs/${runId}/cancel`, {});
      expect(response.status).toBe(202);
      expect(await response.json()).toEqual({ run_id: runId, status: "running", cancel_requested: true });
      const run = await local.engine.waitForRun(runId, 10_000);
      expect(run.status).toBe("cancelled");
      expect(run.nodes[0]).toMatchObject({ status: "cancelled", attempts: 1 });
    });
  });
});
