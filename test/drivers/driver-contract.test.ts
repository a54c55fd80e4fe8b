import { afterEach, describe, expect, it } from "vitest";
import { drivers } from "../../src/drivers/registry.js";
import type { DeviceConfig, Driver } from "../../src/drivers/types.js";
import { failure, run } from "../support/serial/driver-calls.js";
import { GrblSimulator } from "../support/serial/grbl-simulator.js";
import { MarlinSimulator } from "../support/serial/marlin-simulator.js";
import { createPtyPair, type PtyPair } from "../support/serial/pty-pair.js";
import { ScpiSimulator } from "../support/serial/scpi-simulator.js";

/** A driver on its device, with one call that answers at once and one that takes a while. */
interface Rig {
  driver: Driver;
  quick: { functionId: string; params: Record<string, unknown> };
  slow: { functionId: string; params: Record<string, unknown> };
  /** Makes the device slow to answer, where the slow call alone cannot (an instrument). */
  beforeSlow?: () => void;
  /** How many lines the device has received; the mock servo has no line, and counts none. */
  received(): number;
  /** Serial drivers only: pulls the cable. */
  unplug?: () => Promise<void>;
  teardown(): Promise<void>;
}

async function serialRig<S extends { close(): Promise<void>; commands: readonly unknown[] }>(
  driverName: string,
  startSimulator: (devicePath: string) => Promise<S>,
  calls: Pick<Rig, "quick" | "slow">,
  options: Record<string, unknown> = {},
  beforeSlow?: (simulator: S) => void,
): Promise<Rig> {
  const pair: PtyPair = await createPtyPair();
  try {
    return await openRig(pair, driverName, await startSimulator(pair.devicePath), calls, options, beforeSlow);
  } catch (error) {
    await pair.unplug(); // a rig that failed to come up leaves no socat behind
    throw error;
  }
}

async function openRig<S extends { close(): Promise<void>; commands: readonly unknown[] }>(
  pair: PtyPair,
  driverName: string,
  simulator: S,
  calls: Pick<Rig, "quick" | "slow">,
  options: Record<string, unknown>,
  beforeSlow: ((simulator: S) => void) | undefined,
): Promise<Rig> {
  const device: DeviceConfig = {
    id: `${driverName}-1`,
    driver: driverName,
    capacity: 1,
    path: pair.hostPath,
    baudRate: 115200,
    options,
  };
  const driver = (drivers.get(driverName) ?? raise(driverName)).create(device);
  try {
    await driver.open();
  } catch (error) {
    await simulator.close();
    throw error;
  }
  return {
    driver,
    ...calls,
    ...(beforeSlow && { beforeSlow: () => beforeSlow(simulator) }),
    received: () => simulator.commands.length,
    unplug: () => pair.unplug(),
    async teardown() {
      await driver.close();
      await simulator.close();
      await pair.unplug();
    },
  };
}

const rigs: Record<string, () => Promise<Rig>> = {
  "mock-servo": async () => {
    const device: DeviceConfig = { id: "servo-1", driver: "mock-servo", capacity: 1, options: { speed: 20 } };
    const driver = (drivers.get("mock-servo") ?? raise("mock-servo")).create(device);
    await driver.open();
    return {
      driver,
      quick: { functionId: "status", params: {} },
      slow: { functionId: "move", params: { position: 150 } },
      received: () => 0,
      teardown: () => driver.close(),
    };
  },
  grbl: () =>
    serialRig("grbl", (path) => GrblSimulator.start(path, { rapidRate: 600 }), {
      quick: { functionId: "status", params: {} },
      slow: { functionId: "move", params: { x: 50 } },
    }),
  marlin: () =>
    serialRig("marlin", (path) => MarlinSimulator.start(path, { motionMs: 5000 }), {
      quick: { functionId: "status", params: {} },
      slow: { functionId: "move", params: { x: 50 } },
    }),
  scpi: () =>
    serialRig(
      "scpi",
      (path) => ScpiSimulator.start(path),
      { quick: { functionId: "identify", params: {} }, slow: { functionId: "measure", params: {} } },
      { measure_timeout_ms: 10_000 },
      (simulator) => simulator.delayAnswers(3000),
    ),
};

/** Waits until the slow call's command has reached the device (at once, for the mock servo). */
async function reached(rig: Rig, before: number): Promise<void> {
  if (rig.unplug === undefined) return;
  await expect.poll(() => rig.received() > before, { timeout: 2000, interval: 10 }).toBe(true);
}

function raise(name: string): never {
  throw new Error(`no driver ${name}`);
}

it("every registered driver has a rig in this suite", () => {
  expect([...drivers.keys()].sort()).toEqual(Object.keys(rigs).sort());
});

// One contract, every driver: what the interface's docs promise (src/drivers/types.ts).
describe.each(Object.keys(rigs))("the %s driver keeps the driver contract", (name) => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.teardown();
    rig = undefined;
  });
  const definition = drivers.get(name) ?? raise(name);

  it("declares every function fully, with a params schema the engine can make partial", () => {
    for (const fn of definition.functions) {
      expect(fn.description.length).toBeGreaterThan(5);
      expect(Object.keys(fn.outputs).length).toBeGreaterThan(0);
      expect(fn.timeoutMs).toBeGreaterThan(0);
      expect(fn.retry.attempts).toBeGreaterThanOrEqual(1);
      expect(() => fn.params.partial()).not.toThrow();
    }
  });

  it("resolves a call with the outputs its function declares", async () => {
    rig = await rigs[name]?.();
    if (!rig) throw new Error(`no rig for ${name}`);
    const outputs = await run(rig.driver, rig.quick.functionId, rig.quick.params).done;
    const declared = definition.functions.find((fn) => fn.id === rig?.quick.functionId)?.outputs ?? {};
    expect(Object.keys(outputs).sort()).toEqual(Object.keys(declared).sort());
  });

  it("rejects an unknown function with FUNCTION_UNKNOWN, not retryable", async () => {
    rig = await rigs[name]?.();
    if (!rig) throw new Error(`no rig for ${name}`);
    const error = await failure(run(rig.driver, "no_such_function").done);
    expect(error.code).toBe("FUNCTION_UNKNOWN");
    expect(error.retryable).toBe(false);
  });

  it("rejects a call in flight with CANCELLED within a second of its signal aborting", async () => {
    rig = await rigs[name]?.();
    if (!rig) throw new Error(`no rig for ${name}`);
    rig.beforeSlow?.();
    const controller = new AbortController();
    const before = rig.received();
    const call = failure(run(rig.driver, rig.slow.functionId, rig.slow.params, controller.signal).done);
    await reached(rig, before);
    const start = Date.now();
    controller.abort();
    expect((await call).code).toBe("CANCELLED");
    expect(Date.now() - start).toBeLessThan(1000);
  });

  if (name !== "mock-servo") {
    it("rejects a call in flight with DEVICE_DISCONNECTED within a second of an unplug", async () => {
      rig = await rigs[name]?.();
      if (!rig?.unplug) throw new Error(`no unplug for ${name}`);
      rig.beforeSlow?.();
      const before = rig.received();
      const call = failure(run(rig.driver, rig.slow.functionId, rig.slow.params).done);
      await reached(rig, before);
      const start = Date.now();
      await rig.unplug();
      expect((await call).code).toBe("DEVICE_DISCONNECTED");
      expect(Date.now() - start).toBeLessThan(1000);
    });
  }
});
