import { afterEach, describe, expect, it } from "vitest";
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
let sim: GrblSimulator | undefined;

afterEach(async () => {
  await worker?.close();
  await api?.close();
  await sim?.close();
  await pair?.unplug();
  api = worker = pair = sim = undefined;
});

// A worker hosting a serial stage that is not plugged in when it starts, and a mock servo.
describe("a device missing at start", () => {
  it("shows offline without stopping the worker's other devices, and comes online when plugged in", async () => {
    pair = await createPtyPair();
    await pair.unplug(); // its path is known, but nothing is there yet
    const stage: DeviceConfig = {
      id: "cnc-1",
      driver: "grbl",
      capacity: 1,
      path: pair.hostPath,
      baudRate: 115200,
      options: {},
    };
    const devices = [stage, servo("servo-1")];
    api = createTestApi(devices);
    worker = await startTestWorker(api.prefix, devices);
    const statuses = async () => {
      const body = (await (await api?.get("/api/devices"))?.json()) as {
        devices: { device_id: string; status: string }[];
      };
      return Object.fromEntries(body.devices.map((d) => [d.device_id, d.status]));
    };
    await expect.poll(statuses, { timeout: 3000 }).toEqual({ "cnc-1": "offline", "servo-1": "idle" });
    expect((await runToEnd(api.engine, doc("servo_only", [move("m", "servo-1", 10)]))).status).toBe(
      "completed",
    );

    await pair.replug();
    sim = await GrblSimulator.start(pair.devicePath, {
      homingEnabled: true,
      homingRequired: false,
      homingMs: 20,
    });
    await expect
      .poll(statuses, { timeout: 10_000, interval: 100 })
      .toEqual({ "cnc-1": "idle", "servo-1": "idle" });
    const run = await runToEnd(
      api.engine,
      doc(
        "stage",
        [home("h", "cnc-1"), { id: "go", device_id: "cnc-1", function_id: "move", params: { x: 3 } }],
        [{ source: "h", target: "go" }],
      ),
    );
    expect(run.status).toBe("completed");
    expect(run.nodes.find((n) => n.nodeId === "go")?.outputs).toEqual({ x: 3, y: 0, z: 0 });
  });
});
