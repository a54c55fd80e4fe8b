import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiHandle } from "../../src/api/server.js";
import { ApiError, RigflowClient } from "../../src/client/index.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { newPrefix, servo, startTestServer, startTestWorker } from "../support/context.js";
import { doc } from "../support/pipelines.js";

const devices = [servo("servo-1", { speed: 1000 })];
let api: ApiHandle;
let worker: WorkerHandle;
let client: RigflowClient;

beforeAll(async () => {
  const prefix = newPrefix();
  api = await startTestServer(prefix, devices, { apiToken: "client-token" });
  worker = await startTestWorker(prefix, devices);
  client = new RigflowClient({ baseUrl: `http://127.0.0.1:${api.port}`, token: "client-token" });
});
afterAll(async () => {
  await worker.close();
  await api.close();
});

describe("the typed API client (rigflow/client)", () => {
  it("submits a run that waits for an approval, approves it with outputs, and reads the run to its end", async () => {
    const { run_id: runId, status } = await client.submitRun({
      pipeline: doc(
        "typed",
        [
          { id: "ask", type: "approval", message: "Where to?", outputs: { position: "number" } },
          { id: "go", device_id: "servo-1", function_id: "move", params: {} },
        ] as never,
        [{ source: "ask", target: "go", source_output: "position", target_input: "position" }],
      ),
    });
    expect(["queued", "running"]).toContain(status);
    await expect
      .poll(async () => (await client.getRun(runId)).nodes?.ask?.status, { timeout: 10_000, interval: 20 })
      .toBe("waiting");
    expect((await client.listRuns({ status: "waiting" })).runs.map((run) => run.run_id)).toEqual([runId]);
    const decision = await client.approveNode(runId, "ask", { outputs: { position: 64 } });
    expect(decision).toMatchObject({ decision: "approve", node_status: "completed" });
    await expect
      .poll(async () => (await client.getRun(runId)).status, { timeout: 10_000, interval: 20 })
      .toBe("completed");
    const run = await client.getRun(runId);
    expect(run.nodes?.go?.outputs).toMatchObject({ position: 64 });
    expect(run.node_counts.completed).toBe(2);
    const { events } = await client.runEvents(runId);
    expect(events.map((event) => event.type)).toContain("node_waiting");
    expect((await client.runNodes(runId, { limit: "1" })).next_cursor).not.toBeNull();
  });

  it("answers a refusal as an ApiError with the contract's code, and a wrong token as UNAUTHORIZED", async () => {
    const refused = await client.cancelRun("run_nope").catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ApiError);
    expect(refused).toMatchObject({ status: 404, code: "RUN_NOT_FOUND" });
    const stranger = new RigflowClient({ baseUrl: `http://127.0.0.1:${api.port}`, token: "wrong" });
    await expect(stranger.devices()).rejects.toMatchObject({ status: 401, code: "UNAUTHORIZED" });
    expect((await client.devices()).devices.map((device) => device.device_id)).toEqual(["servo-1"]);
    expect((await client.functions()).drivers.length).toBeGreaterThan(0);
  });
});
