import { afterEach, describe, expect, it } from "vitest";
import type { DeviceError } from "../../src/drivers/device-error.js";
import { grbl } from "../../src/drivers/grbl/definition.js";
import type { Driver } from "../../src/drivers/types.js";
import { GrblSimulator, type GrblSimulatorOptions } from "../support/serial/grbl-simulator.js";
import { failure, run } from "../support/serial/driver-calls.js";
import { createPtyPair, type PtyPair } from "../support/serial/pty-pair.js";

let pair: PtyPair | undefined;
let sim: GrblSimulator | undefined;
let driver: Driver | undefined;

async function connect(options: GrblSimulatorOptions = {}) {
  pair = await createPtyPair();
  sim = await GrblSimulator.start(pair.devicePath, {
    homingEnabled: true,
    homingRequired: false,
    homingMs: 50,
    ...options,
  });
  driver = grbl.create({
    id: "cnc-1",
    driver: "grbl",
    capacity: 1,
    path: pair.hostPath,
    baudRate: 115200,
    options: {},
  });
  await driver.open();
  return { pair, sim, driver };
}

afterEach(async () => {
  await driver?.close();
  await sim?.close();
  await pair?.unplug();
  driver = sim = pair = undefined;
});

describe("the grbl driver against a simulated GRBL 1.1 on a pty", () => {
  it("homes, and reports the position", async () => {
    const { driver, sim } = await connect({ homingRequired: true });
    expect(await run(driver, "home").done).toEqual({ homed: true, x: 0, y: 0, z: 0 });
    expect(sim.commands.map((c) => c.line)).toContain("$H");
    expect(await run(driver, "status").done).toMatchObject({ state: "Idle", homed: true, x: 0, y: 0, z: 0 });
  });

  it("finishes a move when GRBL reports Idle, not at its ok, with progress on the way", async () => {
    // 11.2 mm at 20 mm/s: over half a second of Run, ten status polls, so that progress on the way
    // shows even when the whole suite's load delays some of them (at 100 mm/s it once made two reports in all).
    const { driver, sim } = await connect({ rapidRate: 1200 });
    const move = run(driver, "move", { x: 10, y: 5 });
    expect(await move.done).toEqual({ x: 10, y: 5, z: 0 });
    expect(sim.state).toBe("Idle");
    expect(sim.position).toEqual({ x: 10, y: 5, z: 0 });
    expect(move.progress.filter((fraction) => fraction > 0 && fraction < 1).length).toBeGreaterThan(1);
    expect(move.progress).toEqual([...move.progress].sort((a, b) => a - b));
    expect(move.progress.at(-1)).toBe(1);
    expect(sim.commands.at(-1)?.line).toBe("G90 G0 X10.000 Y5.000");
  });

  it("moves at a feed rate with G1", async () => {
    const { driver, sim } = await connect();
    expect(await run(driver, "move", { z: -1, feed: 3000 }).done).toEqual({ x: 0, y: 0, z: -1 });
    expect(sim.commands.at(-1)?.line).toBe("G90 G1 F3000 Z-1.000");
  });

  it("fails on error:N with GRBL's meaning, naming the device", async () => {
    const { driver, sim } = await connect();
    sim.failNext(20);
    const error = await failure(run(driver, "move", { x: 1 }).done);
    expect(error.code).toBe("DEVICE_ERROR");
    expect(error.message).toMatch(/^cnc-1: .*error 20: unsupported or invalid G-code/);
  });

  it("fails on an alarm during a move with the alarm's meaning", async () => {
    const { driver, sim } = await connect({ rapidRate: 600 });
    const move = run(driver, "move", { x: 50 });
    await expect.poll(() => sim?.state, { timeout: 2000 }).toBe("Run");
    sim.alarm(1);
    const error = await failure(move.done);
    expect(error.code).toBe("DEVICE_ERROR");
    expect(error.message).toContain("alarm 1: hard limit");
  });

  it("keeps an alarm as the device's fault: moves fail at once saying what to do, until unlock clears it", async () => {
    const { driver, sim } = await connect({ rapidRate: 600 });
    const move = run(driver, "move", { x: 50 });
    await expect.poll(() => sim?.state, { timeout: 2000 }).toBe("Run");
    sim.alarm(1);
    await failure(move.done);
    expect(driver.fault).toMatch(/^cnc-1: alarm 1: hard limit.*unlock or home it before moving it/);

    const lines = sim.commands.length;
    const refused = await failure(run(driver, "move", { x: 5 }).done);
    expect(refused.code).toBe("DEVICE_ERROR");
    expect(refused.retryable).toBe(false);
    expect(refused.message).toMatch(/alarm 1: .*unlock or home it before moving it/);
    expect(sim.commands.length).toBe(lines); // nothing sent: GRBL would only answer error:9

    expect(await run(driver, "unlock").done).toEqual({ unlocked: true });
    expect(driver.fault).toBeUndefined();
    expect(await run(driver, "move", { x: 5 }).done).toMatchObject({ x: 5 });
  });

  it("fails on garbage, saying what the device said", async () => {
    const { driver, sim } = await connect({ homingMs: 500 });
    const home = run(driver, "home");
    await expect.poll(() => sim?.commands.some((c) => c.line === "$H"), { timeout: 2000 }).toBe(true);
    sim.garbage("%%noise%%");
    const error = await failure(home.done);
    expect(error.code).toBe("DEVICE_ERROR");
    expect(error.message).toContain("%%noise%%");
    // The failure stopped the machine before it was reported: no motion is left running.
    expect(sim.state).not.toBe("Home");
  });

  it("times out a silent device", async () => {
    const { driver, sim } = await connect();
    sim.silence(true);
    const error = await failure(run(driver, "status").done);
    expect(error.code).toBe("DEVICE_TIMEOUT");
  });

  it("stops the stage when cancelled mid-move", async () => {
    const { driver, sim } = await connect({ rapidRate: 600 });
    const controller = new AbortController();
    const move = run(driver, "move", { x: 50 }, controller.signal);
    await expect.poll(() => sim?.state, { timeout: 2000 }).toBe("Run");
    controller.abort();
    const error = await failure(move.done);
    expect(error.code).toBe("CANCELLED");
    // Held to rest before the reset: no ALARM:3, the position kept, and the next move works.
    expect(error.message).toMatch(/kept its position/);
    expect(sim.state).toBe("Idle");
    const stoppedAt = sim.position.x;
    expect(stoppedAt).toBeGreaterThan(0);
    expect(stoppedAt).toBeLessThan(50);
    expect(driver.fault).toBeUndefined();
    expect(await run(driver, "move", { x: 1 }).done).toMatchObject({ x: 1 });
  });

  it("fails a move in flight with DEVICE_DISCONNECTED within a second of an unplug", async () => {
    const { driver, sim, pair } = await connect({ rapidRate: 600 });
    const move = run(driver, "move", { x: 50 });
    await expect.poll(() => sim?.state, { timeout: 2000 }).toBe("Run");
    const failed = failure(move.done); // listened to before the unplug makes it fail
    const start = Date.now();
    await pair.unplug();
    const error = await failed;
    expect(error.code).toBe("DEVICE_DISCONNECTED");
    expect(Date.now() - start).toBeLessThan(1000);
  });
});

describe("the grbl driver after an unplug", () => {
  it("reconnects when the cable is back, redoes its handshake, and forgets its home", async () => {
    const { driver, pair } = await connect();
    await run(driver, "home").done;
    await sim?.close();
    await pair.unplug();
    await pair.replug();
    sim = await GrblSimulator.start(pair.devicePath, {
      homingEnabled: true,
      homingRequired: false,
      homingMs: 50,
    });
    await expect
      .poll(() => run(driver, "status").done.catch((error: unknown) => (error as DeviceError).code), {
        timeout: 5000,
        interval: 100,
      })
      .toMatchObject({ state: "Idle", homed: false });
    expect(sim.sent.some((sent) => sent.text.includes("Grbl 1.1"))).toBe(true);
  });
});
