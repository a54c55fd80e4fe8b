import { afterEach, describe, expect, it, vi } from "vitest";
import type { RunEvent } from "../../src/engine/index.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { createTestApi, servo, startTestWorker } from "../support/context.js";
import { doc } from "../support/pipelines.js";

type TestApi = ReturnType<typeof createTestApi>;
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

// speed 100: a move of 60 takes 600 ms, of 150 takes 1.5 s.
const devices = [servo("servo-1", { speed: 100 })];

function rig(): TestApi {
  const api = createTestApi(devices);
  closers.push(() => api.close());
  return api;
}

async function worker(api: TestApi, shutdownGraceMs?: number): Promise<WorkerHandle> {
  const started = await startTestWorker(api.prefix, devices, {
    ...(shutdownGraceMs !== undefined && { shutdownGraceMs }),
  });
  let closed = false;
  closers.push(() => (closed ? Promise.resolve() : started.close()));
  return {
    ...started,
    close: async () => {
      closed = true;
      await started.close();
    },
  };
}

async function whenRunning(api: TestApi, runId: string): Promise<void> {
  await vi.waitFor(async () => expect((await api.engine.getRun(runId)).nodes[0]?.status).toBe("running"), {
    timeout: 5000,
    interval: 10,
  });
}

async function deviceRecord(api: TestApi) {
  return (await api.engine.devices())[0];
}

describe("a worker shutting down", () => {
  it("lets the running command finish, takes nothing new, then releases its devices", async () => {
    const api = rig();
    const first = await worker(api);
    const { runId } = await api.engine.submitRun({
      document: doc("finish", [
        { id: "m", device_id: "servo-1", function_id: "move", params: { position: 60 } },
      ]),
    });
    await whenRunning(api, runId);
    const queued = await api.engine.submitRun({
      document: doc("later", [
        { id: "m", device_id: "servo-1", function_id: "move", params: { position: 10 } },
      ]),
    });

    await first.close();
    const run = await api.engine.getRun(runId);
    expect(run.nodes[0]).toMatchObject({ status: "completed", attempts: 1 });
    expect((await api.engine.getRun(queued.runId)).nodes[0]?.status).toBe("queued");
    expect(await deviceRecord(api)).toMatchObject({ status: "offline", workerId: null });

    await worker(api);
    expect((await api.engine.waitForRun(queued.runId, 10_000)).status).toBe("completed");
  });

  it("past its grace period stops an idempotent command, which another worker runs again without using an attempt", async () => {
    const api = rig();
    const first = await worker(api, 150);
    const { runId } = await api.engine.submitRun({
      document: doc("long", [
        {
          id: "m",
          device_id: "servo-1",
          function_id: "move",
          params: { position: 150 },
          retry: { attempts: 1, backoff_ms: 0 },
        },
      ]),
    });
    await whenRunning(api, runId);
    const closing = Date.now();
    await first.close();
    expect(Date.now() - closing).toBeLessThan(1000);
    expect((await api.engine.getRun(runId)).nodes[0]?.status).toBe("queued");

    await worker(api);
    const run = await api.engine.waitForRun(runId, 10_000);
    expect(run.status).toBe("completed");
    expect(run.nodes[0]?.attempts).toBe(1);
    const events: RunEvent[] = await api.engine.runEvents(runId);
    const retrying = events.find((event) => event.type === "node_retrying") as
      Record<string, unknown> | undefined;
    expect(retrying?.error_message).toMatch(/worker shut down/);
    expect(events.filter((event) => event.type === "node_executing")).toHaveLength(2);
  });

  it("past its grace period stops a non-idempotent command, and the node fails NODE_INTERRUPTED for a person to check", async () => {
    const api = rig();
    const first = await worker(api, 150);
    const { runId } = await api.engine.submitRun({
      document: doc("dispense", [
        { id: "s", device_id: "servo-1", function_id: "step", params: { delta: 150 } },
      ]),
    });
    await whenRunning(api, runId);
    await first.close();
    expect((await api.engine.getRun(runId)).nodes[0]?.status).toBe("failed");

    await worker(api); // whoever orchestrates next ends the run
    const run = await api.engine.waitForRun(runId, 5000);
    expect(run.status).toBe("failed");
    expect(run.nodes[0]?.error).toMatchObject({ code: "NODE_INTERRUPTED" });
    expect(run.nodes[0]?.error?.message).toMatch(/^servo-1: the worker shut down/);
  });
});
