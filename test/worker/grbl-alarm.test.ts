import { afterEach, describe, expect, it } from "vitest";
import type { DeviceConfig } from "../../src/drivers/types.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { createTestApi, startTestWorker } from "../support/context.js";
import { doc } from "../support/pipelines.js";
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

// GRBL's alarm is a state of the machine, not only a failed command: the device shows it until
// the operator clears it.
describe("a GRBL stage in alarm", () => {
  it("shows error with the alarm's meaning, refuses moves saying what to do, and is idle again after unlock", async () => {
    pair = await createPtyPair();
    sim = await GrblSimulator.start(pair.devicePath);
    const stage: DeviceConfig = {
      id: "cnc-1",
      driver: "grbl",
      capacity: 1,
      path: pair.hostPath,
      options: {},
    };
    const rig = createTestApi([stage]);
    api = rig;
    worker = await startTestWorker(rig.prefix, [stage]);
    const device = async () => {
      const body = (await (await rig.get("/api/devices")).json()) as {
        devices: { status: string; error_message: string | null }[];
      };
      return body.devices[0];
    };
    await expect.poll(device, { timeout: 5000 }).toMatchObject({ status: "idle" });

    sim.alarm(1);
    await expect.poll(device, { timeout: 5000 }).toMatchObject({
      status: "error",
      error_message: expect.stringMatching(
        /alarm 1: hard limit .*unlock or home it before moving it/,
      ) as unknown,
    });
    const node = (id: string, functionId: string, params: Record<string, unknown> = {}) => ({
      id,
      device_id: "cnc-1",
      function_id: functionId,
      params,
    });
    const refused = await rig.engine.submitRun({
      document: doc("moves_in_alarm", [node("m", "move", { x: 1 })]),
    });
    const failed = await rig.engine.waitForRun(refused.runId, 10_000);
    expect(failed.error).toMatchObject({ code: "DEVICE_ERROR" });
    expect(failed.error?.message).toMatch(/unlock or home it before moving it/);

    const { runId } = await rig.engine.submitRun({
      document: doc(
        "unlock_then_move",
        [node("u", "unlock"), node("m", "move", { x: 1 })],
        [{ source: "u", target: "m" }],
      ),
    });
    expect((await rig.engine.waitForRun(runId, 10_000)).status).toBe("completed");
    await expect.poll(device, { timeout: 5000 }).toMatchObject({ status: "idle", error_message: null });
  });
});
