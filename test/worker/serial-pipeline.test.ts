import { afterAll, describe, expect, it } from "vitest";
import type { DeviceConfig } from "../../src/drivers/types.js";
import { createTestApi } from "../support/context.js";
import { doc } from "../support/pipelines.js";
import { GrblSimulator } from "../support/serial/grbl-simulator.js";
import { createPtyPair, type PtyPair } from "../support/serial/pty-pair.js";
import { ScpiSimulator } from "../support/serial/scpi-simulator.js";
import { startWorkerProcess, writeDevicesFile, type WorkerProcess } from "../support/worker-process.js";

const pairs: PtyPair[] = [];
const closers: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  for (const pair of pairs) await pair.unplug();
});

// Issue 3's demonstration: home -> move -> measure across a GRBL stage and an SCPI meter, simulated
// on ptys, through the API and a separate worker process, with progress and outputs.
describe("a pipeline across serial devices", () => {
  it("homes and moves a GRBL stage, then measures with an SCPI meter, in a worker process", async () => {
    const stagePty = await createPtyPair();
    const meterPty = await createPtyPair();
    pairs.push(stagePty, meterPty);
    const stage = await GrblSimulator.start(stagePty.devicePath, {
      homingEnabled: true,
      homingRequired: false,
      homingMs: 30,
      rapidRate: 3000,
    });
    const meter = await ScpiSimulator.start(meterPty.devicePath, { values: { voltage_dc: 1.2345 } });
    closers.push(
      () => stage.close(),
      () => meter.close(),
    );
    const devices: DeviceConfig[] = [
      { id: "cnc-1", driver: "grbl", capacity: 1, path: stagePty.hostPath, baudRate: 115200, options: {} },
      { id: "dmm-1", driver: "scpi", capacity: 1, path: meterPty.hostPath, baudRate: 115200, options: {} },
    ];
    const api = createTestApi(devices);
    closers.push(() => api.close());
    const worker: WorkerProcess = await startWorkerProcess(api.prefix, writeDevicesFile(devices));
    closers.push(() => worker.stop());

    const pipeline = doc(
      "probe_station",
      [
        { id: "home", device_id: "cnc-1", function_id: "home" },
        { id: "to_probe", device_id: "cnc-1", function_id: "move", params: { x: 20, y: 10 } },
        { id: "measure", device_id: "dmm-1", function_id: "measure", params: { quantity: "voltage_dc" } },
      ],
      [
        { source: "home", target: "to_probe" },
        { source: "to_probe", target: "measure" },
      ],
    );
    const response = await api.post("/api/runs", { pipeline });
    expect(response.status).toBe(202);
    const { run_id: runId } = (await response.json()) as { run_id: string };
    const run = await api.engine.waitForRun(runId, 20_000);

    expect(run.status).toBe("completed");
    const outputs = Object.fromEntries(run.nodes.map((node) => [node.nodeId, node.outputs]));
    expect(outputs).toEqual({
      home: { homed: true, x: 0, y: 0, z: 0 },
      to_probe: { x: 20, y: 10, z: 0 },
      measure: { value: 1.2345, unit: "V", quantity: "voltage_dc" },
    });
    const events = await api.engine.runEvents(runId);
    const moveProgress = events.filter((e) => e.type === "node_progress" && e.node_id === "to_probe");
    expect(moveProgress.length).toBeGreaterThan(0);
    expect(stage.commands.map((c) => c.line)).toEqual(
      expect.arrayContaining(["$H", "G90 G0 X20.000 Y10.000"]),
    );
    expect(meter.commands.map((c) => c.line)).toContain("MEAS:VOLT:DC?");
  });
});
