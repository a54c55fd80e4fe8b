import { afterEach, describe, expect, it, vi } from "vitest";
import type { DeviceConfig } from "../../src/drivers/types.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { createTestApi, servo, startTestWorker } from "../support/context.js";
import { doc, home, move } from "../support/pipelines.js";
import { runToEnd } from "../support/runs.js";
import { GrblSimulator } from "../support/serial/grbl-simulator.js";
import { createPtyPair, type PtyPair } from "../support/serial/pty-pair.js";

let api: ReturnType<typeof createTestApi> | undefined;
let worker: WorkerHandle | undefined;
let pair: PtyPair | undefined;
const sims: GrblSimulator[] = [];

afterEach(async () => {
  await worker?.close();
  await api?.close();
  for (const sim of sims.splice(0)) await sim.close();
  await pair?.unplug();
  api = worker = pair = undefined;
});

// The unplug: kill the pty's socat while the stage moves, then plug it in again.
describe("a serial device unplugged mid-move", () => {
  it("fails the node DEVICE_DISCONNECTED within a second, shows offline, and comes back on replug without a worker restart", async () => {
    pair = await createPtyPair();
    sims.push(
      await GrblSimulator.start(pair.devicePath, {
        homingEnabled: true,
        homingRequired: false,
        homingMs: 20,
        rapidRate: 300,
      }),
    );
    const stage: DeviceConfig = {
      id: "cnc-1",
      driver: "grbl",
      capacity: 1,
      path: pair.hostPath,
      baudRate: 115200,
      options: {},
    };
    const devices = [stage, servo("servo-1")];
    const rig = createTestApi(devices);
    api = rig;
    worker = await startTestWorker(rig.prefix, devices);
    const statuses = async () => {
      const body = (await (await rig.get("/api/devices")).json()) as {
        devices: { device_id: string; status: string }[];
      };
      return Object.fromEntries(body.devices.map((d) => [d.device_id, d.status]));
    };
    await expect.poll(statuses, { timeout: 5000 }).toEqual({ "cnc-1": "idle", "servo-1": "idle" });

    // A 100 mm move at 300 mm/min takes 20 s: it is surely under way when the cable goes.
    const long = { id: "far", device_id: "cnc-1", function_id: "move", params: { x: 100 } };
    const { runId } = await rig.engine.submitRun({
      document: doc("long_move", [{ ...long, retry: { attempts: 1, backoff_ms: 0 } }]),
    });
    await vi.waitFor(async () => expect((await statuses())["cnc-1"]).toBe("busy"), { timeout: 5000 });
    await vi.waitFor(() => expect(sims[0]?.state).toBe("Run"), { timeout: 5000, interval: 10 });
    const unpluggedAt = Date.now();
    await pair.unplug();

    const failed = await rig.engine.waitForRun(runId, 5000);
    const failedAt = Date.parse(failed.nodes[0]?.finishedAt ?? "");
    expect(failed.status).toBe("failed");
    expect(failed.nodes[0]?.error).toMatchObject({ code: "DEVICE_DISCONNECTED" });
    expect(failed.nodes[0]?.error?.message).toMatch(/^cnc-1: /);
    expect(failedAt - unpluggedAt).toBeLessThan(1000);
    await expect
      .poll(statuses, { timeout: 2000, interval: 50 })
      .toEqual({ "cnc-1": "offline", "servo-1": "idle" });
    // The worker's other device goes on working.
    expect((await runToEnd(rig.engine, doc("servo_only", [move("m", "servo-1", 10)]))).status).toBe(
      "completed",
    );

    await pair.replug();
    sims.push(
      await GrblSimulator.start(pair.devicePath, {
        homingEnabled: true,
        homingRequired: false,
        homingMs: 20,
        rapidRate: 3000,
      }),
    );
    await expect
      .poll(statuses, { timeout: 10_000, interval: 100 })
      .toEqual({ "cnc-1": "idle", "servo-1": "idle" });
    const again = await runToEnd(
      rig.engine,
      doc(
        "after_replug",
        [home("h", "cnc-1"), { id: "go", device_id: "cnc-1", function_id: "move", params: { x: 3 } }],
        [{ source: "h", target: "go" }],
      ),
    );
    expect(again.status).toBe("completed");
    expect(again.nodes.find((node) => node.nodeId === "go")?.outputs).toEqual({ x: 3, y: 0, z: 0 });
  });
});
