import { afterAll, describe, expect, it, vi } from "vitest";
import type { DeviceConfig } from "../../src/drivers/types.js";
import { createTestApi } from "../support/context.js";
import { doc } from "../support/pipelines.js";
import { GrblSimulator } from "../support/serial/grbl-simulator.js";
import { createPtyPair, type PtyPair } from "../support/serial/pty-pair.js";
import { ScpiSimulator, type DmmQuantity } from "../support/serial/scpi-simulator.js";
import { startWorkerProcess, writeDevicesFile } from "../support/worker-process.js";

const runCount = 30;
const pairs: PtyPair[] = [];
const closers: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const close of closers.reverse()) await close();
  for (const pair of pairs) await pair.unplug();
});

const quantities: { quantity: DmmQuantity; value: number; unit: string }[] = [
  { quantity: "voltage_dc", value: 1.2345, unit: "V" },
  { quantity: "resistance", value: 1000.5, unit: "Ohm" },
  { quantity: "current_dc", value: 0.0125, unit: "A" },
  { quantity: "voltage_ac", value: 0.2301, unit: "V" },
];

/** Run i's plan: home, go to its probe point, measure there, then park at a spot of its own. */
function probeRun(i: number) {
  const probe = { x: 10 + i, y: 40 - i };
  const park = { x: i, y: 5 };
  const { quantity } = quantities[i % quantities.length] ?? { quantity: "voltage_dc" };
  const pipeline = doc(
    `probe_${i}`,
    [
      { id: "home", device_id: "cnc-1", function_id: "home" },
      { id: "to_probe", device_id: "cnc-1", function_id: "move", params: probe },
      { id: "measure", device_id: "dmm-1", function_id: "measure", params: { quantity } },
      { id: "park", device_id: "cnc-1", function_id: "move", params: park },
    ],
    [
      { source: "home", target: "to_probe" },
      { source: "to_probe", target: "measure" },
      { source: "measure", target: "park" },
    ],
  );
  return { pipeline, probe, park, quantity };
}

// The demonstration: two worker processes host the devices of one devices file (each its
// own device), and 30 runs contend for a GRBL stage and an SCPI meter at once. The simulators see
// what a real device would: a command arriving while an earlier one is still being carried out.
describe("30 concurrent runs on one stage and one meter, hosted by two worker processes", () => {
  it("never puts a command on a device that is still busy, and runs each command once", async () => {
    const stagePty = await createPtyPair();
    const meterPty = await createPtyPair();
    pairs.push(stagePty, meterPty);
    const stage = await GrblSimulator.start(stagePty.devicePath, {
      homingEnabled: true,
      homingRequired: false,
      homingMs: 20,
      rapidRate: 30_000,
    });
    closers.push(() => stage.close());
    const meter = await ScpiSimulator.start(meterPty.devicePath);
    closers.push(() => meter.close());
    meter.delayAnswers(10); // a measurement takes a while: a second query then would overlap
    const devices: DeviceConfig[] = [
      { id: "cnc-1", driver: "grbl", capacity: 1, path: stagePty.hostPath, baudRate: 115200, options: {} },
      { id: "dmm-1", driver: "scpi", capacity: 1, path: meterPty.hostPath, baudRate: 115200, options: {} },
    ];
    const api = createTestApi(devices);
    closers.push(() => api.close());
    const file = writeDevicesFile(devices);
    const startHost = async (deviceId: string) => {
      const worker = await startWorkerProcess(api.prefix, file, {
        WORKER_DEVICES: deviceId,
        WORKER_ID: `${deviceId}-host`,
      });
      closers.push(() => worker.stop());
      return worker;
    };
    await Promise.all([startHost("cnc-1"), startHost("dmm-1")]);

    // Both devices online, each in its own worker.
    await vi.waitFor(
      async () => {
        const body = (await (await api.get("/api/devices")).json()) as {
          devices: { device_id: string; status: string; worker_id: string | null }[];
        };
        const hosts = Object.fromEntries(body.devices.map((d) => [d.device_id, [d.status, d.worker_id]]));
        expect(hosts).toEqual({ "cnc-1": ["idle", "cnc-1-host"], "dmm-1": ["idle", "dmm-1-host"] });
      },
      { timeout: 10_000, interval: 50 },
    );

    const plans = Array.from({ length: runCount }, (_, i) => probeRun(i));
    const runIds = await Promise.all(
      plans.map(async ({ pipeline }) => {
        const response = await api.post("/api/runs", { pipeline });
        expect(response.status).toBe(202);
        return ((await response.json()) as { run_id: string }).run_id;
      }),
    );
    const runs = await Promise.all(runIds.map((runId) => api.engine.waitForRun(runId, 20_000)));

    const overlapReport = JSON.stringify({ stage: stage.overlapping, meter: meter.overlapping }, null, 1);
    expect(stage.overlaps, overlapReport).toBe(0);
    expect(meter.overlaps, overlapReport).toBe(0);
    // Every run completed, each node once, with its own outputs.
    const outcome = runs.map((run) => ({
      pipeline: run.pipelineId,
      status: run.status,
      error: run.error,
      nodes: Object.fromEntries(
        run.nodes.map((node) => [node.nodeId, { attempts: node.attempts, outputs: node.outputs }]),
      ),
    }));
    const once = (outputs: Record<string, unknown>) => ({ attempts: 1, outputs });
    expect(outcome).toEqual(
      plans.map(({ probe, park, quantity }, i) => {
        const { value, unit } = quantities.find((q) => q.quantity === quantity) ?? {};
        return {
          pipeline: `probe_${i}`,
          status: "completed",
          error: null,
          nodes: {
            home: once({ homed: true, x: 0, y: 0, z: 0 }),
            to_probe: once({ ...probe, z: 0 }),
            measure: once({ value, unit, quantity }),
            park: once({ ...park, z: 0 }),
          },
        };
      }),
    );

    // Each command reached its device exactly once.
    const stageLines = stage.commands.map((c) => c.line);
    const moves = stageLines.filter((line) => line.startsWith("G90 G0 "));
    expect(moves).toHaveLength(2 * runCount);
    const expectedMoves = plans.flatMap(({ probe, park }) =>
      [probe, park].map(({ x, y }) => `G90 G0 X${x.toFixed(3)} Y${y.toFixed(3)}`),
    );
    expect([...moves].sort()).toEqual(expectedMoves.sort());
    expect(stageLines.filter((line) => line === "$H")).toHaveLength(runCount);
    const measurements = meter.commands.filter((c) => c.line.startsWith("MEAS:"));
    expect(measurements).toHaveLength(runCount);
  }, 30_000);
});
