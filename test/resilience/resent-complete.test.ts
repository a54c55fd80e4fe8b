import { afterEach, describe, expect, it, vi } from "vitest";
import { createWorkerRuntime, redisKeys, type RunState } from "../../src/engine/index.js";
import { RunLedger } from "../../src/engine/redis/run-ledger.js";
import { loadScripts } from "../../src/engine/redis/scripts.js";
import { createTestApi, quietLog, servo, startTestWorker } from "../support/context.js";
import { beginByHand, nodeRef } from "../support/ledger-by-hand.js";
import { doc, move } from "../support/pipelines.js";

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

// ioredis sends a command again when its connection drops before the reply came. A node-complete
// that ran, whose reply was lost, then runs a second time with the very same arguments: it must
// answer as the first did, so that the successors the first released are enqueued now, not only
// when the run job next wakes (after every other branch has ended).
describe("a node-complete sent again after its reply was lost", () => {
  it("releases exactly what the first one did, less what has begun since", async () => {
    const devices = [servo("servo-1")];
    const api = createTestApi(devices);
    closers.push(() => api.close());
    // Orchestrates, hosts no device: the jobs wait in their queue and the ledger is driven by hand.
    const orchestrator = await startTestWorker(api.prefix, []);
    closers.push(() => orchestrator.close());
    const edges = [
      { source: "a", target: "c" },
      { source: "b", target: "c" },
      { source: "a", target: "d" },
    ];
    const document = doc(
      "resent",
      ["a", "b", "c", "d"].map((id, i) => move(id, "servo-1", 10 + i)),
      edges,
    );
    const { runId } = await api.engine.submitRun({ document });
    const status = async (nodeId: string) =>
      (await api.engine.getRun(runId)).nodes.find((node) => node.nodeId === nodeId)?.status;
    await vi.waitFor(
      async () => expect([await status("a"), await status("b")]).toEqual(["queued", "queued"]),
      {
        timeout: 5000,
        interval: 10,
      },
    );

    const keys = redisKeys(api.prefix);
    const ledger = new RunLedger(api.redis, keys);
    const begin = (nodeId: string) => beginByHand(ledger, nodeRef(runId, "resent", nodeId));
    await begin("a");
    await begin("b");
    expect(await ledger.completeNode(nodeRef(runId, "resent", "b"), {}, 0.1, ["c"])).toEqual({
      released: [],
      woken: [],
      next: 0,
    });

    // The same node-complete twice, byte for byte, as ioredis resends it.
    const scripts = loadScripts(api.redis);
    const nodeKeys = [
      keys.run(runId),
      keys.runNodes(runId),
      keys.runOutputs(runId),
      keys.runEvents(runId),
      keys.events,
      keys.deviceReservations,
      keys.runReservations(runId),
      keys.reservationWaiters,
      keys.deviceLease("servo-1"),
    ];
    const event = JSON.stringify({ type: "node_completed", run_id: runId, node_id: "a" });
    const args = [
      "a",
      0,
      "{}",
      new Date().toISOString(),
      0.1,
      event,
      10_000,
      "servo-1",
      10_000,
      "",
      "completion-1",
      "", // the attempt's started_at: not known here
      2, // successors, all in this one batch
      "c",
      "d",
    ];
    const first = await scripts["node-complete"](nodeKeys, args);
    expect(first).toEqual([["c", "d"], [], 0]);
    expect(await scripts["node-complete"](nodeKeys, args)).toEqual(first);
    // Once d has begun, a resend no longer names it (its job exists; adding it again could only harm).
    await begin("d");
    expect(await scripts["node-complete"](nodeKeys, args)).toEqual([["c"], [], 0]);
    // Another completion of a (a second execution, not a resend) releases nothing.
    expect(
      await scripts["node-complete"](nodeKeys, [...args.slice(0, 10), "completion-2", "", 2, "c", "d"]),
    ).toBe(-1);

    const events = await api.engine.runEvents(runId);
    expect(events.filter((e) => e.type === "node_completed" && e.node_id === "a")).toHaveLength(1);
    const run: RunState = await api.engine.getRun(runId);
    expect(run.nodes.find((node) => node.nodeId === "c")?.status).toBe("queued");
    const runtime = createWorkerRuntime(api.redis, api.prefix, quietLog);
    closers.push(() => runtime.close());
    await api.engine.cancelRun(runId);
  });
});
