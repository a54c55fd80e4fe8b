import { afterEach, describe, expect, it, vi } from "vitest";
import { redisKeys } from "../../src/engine/index.js";
import { RunLedger } from "../../src/engine/redis/run-ledger.js";
import { createTestApi, servo, startTestWorker } from "../support/context.js";
import { beginByHand, nodeRef } from "../support/ledger-by-hand.js";
import { doc, move } from "../support/pipelines.js";

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

// ioredis resends a command whose reply a dropped connection lost; a worker or a timeout job may
// also run a step again after a crash. Each ledger script must then answer as the first time did,
// or its caller skips what comes after (ending the nodes not begun, the retry's backoff).
describe("ledger scripts run twice", () => {
  it("node-fail, node-retry and a timeout's run-cancel answer the second time as the first", async () => {
    const api = createTestApi([servo("servo-1")]);
    closers.push(() => api.close());
    const orchestrator = await startTestWorker(api.prefix, []); // hosts no device
    closers.push(() => orchestrator.close());
    const { runId } = await api.engine.submitRun({
      document: doc("twice", [move("a", "servo-1", 10), move("b", "servo-1", 20)]),
    });
    const status = async (nodeId: string) =>
      (await api.engine.getRun(runId)).nodes.find((node) => node.nodeId === nodeId)?.status;
    await vi.waitFor(async () => expect(await status("a")).toBe("queued"), { timeout: 5000, interval: 10 });
    const ledger = new RunLedger(api.redis, redisKeys(api.prefix));
    const ref = (nodeId: string) => nodeRef(runId, "twice", nodeId);
    const begin = (nodeId: string) => beginByHand(ledger, ref(nodeId));

    await begin("a");
    const error = { code: "DEVICE_ERROR", message: "x" };
    expect(await ledger.retryNode(ref("a"), error, 2, 100)).toBe(true);
    expect(await ledger.retryNode(ref("a"), error, 2, 100)).toBe(true);

    await begin("b");
    expect(await ledger.failNode(ref("b"), "failed", error, 0.1)).toBe("halted");
    expect(await ledger.failNode(ref("b"), "failed", error, 0.1)).toBe("halted");
    // A cancel of the failing run keeps its failure; a timeout too.
    expect(await ledger.cancelRun(runId, "cancelled")).toBe("failed");
    expect(await ledger.cancelRun(runId, "timeout")).toBe("failed");
  });

  it("a timeout's run-cancel run twice answers running both times, so the halt goes on", async () => {
    const api = createTestApi([servo("servo-1")]);
    closers.push(() => api.close());
    const { runId } = await api.engine.submitRun({
      document: doc("timeout_twice", [move("a", "servo-1", 10)]),
    });
    const ledger = new RunLedger(api.redis, redisKeys(api.prefix));
    expect(await ledger.cancelRun(runId, "timeout")).toBe("queued");
    expect(await ledger.cancelRun(runId, "timeout")).toBe("queued");
    expect(await ledger.cancelRun(runId, "cancelled")).toBe("failed");
  });
});
