import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { DeviceError } from "../../src/drivers/device-error.js";
import { marlin } from "../../src/drivers/marlin/definition.js";
import type { Driver } from "../../src/drivers/types.js";
import { failure, run } from "../support/serial/driver-calls.js";
import { checkedGcode, marlinRig, received as lines, type MarlinRig } from "../support/serial/marlin-rig.js";
import {
  MarlinSimulator,
  marlinChecksum,
  type MarlinSimulatorOptions,
} from "../support/serial/marlin-simulator.js";

let rig: MarlinRig | undefined;
let sim: MarlinSimulator | undefined;
let driver: Driver | undefined;

async function connect(options: MarlinSimulatorOptions = {}, driverOptions: Record<string, unknown> = {}) {
  rig = await marlinRig(options, driverOptions);
  return rig;
}

/** socat processes and folders of the reconnect test, which needs the same paths twice. */
const cables: ChildProcess[] = [];
const folders: string[] = [];

afterEach(async () => {
  await rig?.teardown();
  await driver?.close();
  await sim?.close();
  rig = driver = sim = undefined;
  await Promise.all(cables.splice(0).map(unplugCable));
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/** A pty pair at given paths (pty-pair.ts picks fresh ones), so that a device can come back. */
async function plugCable(hostPath: string, devicePath: string): Promise<ChildProcess> {
  rmSync(hostPath, { force: true });
  rmSync(devicePath, { force: true });
  const child = spawn(
    "socat",
    ["-d", "-d", `pty,raw,echo=0,link=${hostPath}`, `pty,raw,echo=0,link=${devicePath}`],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  cables.push(child);
  await new Promise<void>((resolve, reject) => {
    let log = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes("starting data transfer loop")) resolve();
    });
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`socat exited (${code}) before it was ready:\n${log}`)));
  });
  return child;
}

async function unplugCable(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  await exited;
}

describe("the marlin driver against a simulated Marlin on a pty", () => {
  it("starts the numbering with M110, homes, and reports the position", async () => {
    const { driver, sim } = await connect();
    expect(lines(sim)[0]).toBe(`N0 M110 N0*${marlinChecksum("N0 M110 N0")}`);
    expect(await run(driver, "home").done).toEqual({ homed: true, x: 0, y: 0, z: 0 });
    const home = lines(sim).find((line) => checkedGcode(line) === "G28");
    expect(home).toMatch(/^N\d+ G28\*\d+$/);
    expect(sim.homed).toBe(true);
    expect(await run(driver, "status").done).toEqual({ homed: true, x: 0, y: 0, z: 0 });
    // Every line the driver sent was numbered in order, with a right checksum.
    const numbers = lines(sim).map((line) => {
      expect(checkedGcode(line)).toBeDefined();
      return Number(/^N(\d+)/.exec(line)?.[1]);
    });
    expect(numbers).toEqual(numbers.map((_, i) => i));
  });

  it("finishes a move when M400 returns, not at the ok to G0, and returns the target", async () => {
    const { driver, sim } = await connect({ motionMs: 300 });
    const move = run(driver, "move", { x: 10, y: 5 });
    expect(await move.done).toEqual({ x: 10, y: 5, z: 0 });
    expect(sim.moving).toBe(false);
    expect(sim.position).toEqual({ x: 10, y: 5, z: 0 });
    expect(move.progress).toEqual([0, 1]);
    // Z was not known before the move, so the position is read twice (an answer has no checksum).
    const sent = lines(sim).map(checkedGcode).slice(-4);
    expect(sent).toEqual(["G0 X10.000 Y5.000", "M400", "M114", "M114"]);
    const g0 = sim.commands.at(-4)?.at ?? 0;
    const m400 = sim.sent.find((s) => s.text.startsWith("X:10.00"))?.at ?? 0;
    expect(m400 - g0).toBeGreaterThanOrEqual(250);
  });

  it("moves at a feed rate with G1", async () => {
    const { driver, sim } = await connect();
    expect(await run(driver, "move", { z: -1, feed: 3000 }).done).toEqual({ x: 0, y: 0, z: -1 });
    expect(lines(sim).map(checkedGcode)).toContain("G1 F3000 Z-1.000");
  });

  it("refuses a move with no axis", async () => {
    const { driver } = await connect();
    const error = await failure(run(driver, "move", { feed: 100 }).done);
    expect(error.code).toBe("PARAMS_INVALID");
  });

  it("waits through busy messages during a slow G28", async () => {
    const { driver, sim } = await connect(
      { homingMs: 1500, busyIntervalMs: 100 },
      { silence_timeout_ms: 500 },
    );
    expect(await run(driver, "home").done).toEqual({ homed: true, x: 0, y: 0, z: 0 });
    expect(sim.sent.filter((s) => s.text === "echo:busy: processing\n").length).toBeGreaterThan(5);
  });

  it("sends a corrupted line again and still succeeds", async () => {
    const { driver, sim } = await connect();
    sim.corruptNext();
    expect(await run(driver, "move", { x: 3 }).done).toEqual({ x: 3, y: 0, z: 0 });
    const g0 = lines(sim).filter((line) => checkedGcode(line) === "G0 X3.000");
    expect(g0).toHaveLength(2);
    expect(g0[0]).toBe(g0[1]);
    expect(sim.sent.map((s) => s.text).join("")).toMatch(
      /Error:checksum mismatch, Last Line: \d+\nResend: \d+\nok/,
    );
    expect(sim.position).toEqual({ x: 3, y: 0, z: 0 });
  });

  it("fails on an unknown command, quoting Marlin", async () => {
    const { driver } = await connect({ unsupported: ["M400"] });
    const error = await failure(run(driver, "move", { x: 1 }).done);
    expect(error.code).toBe("DEVICE_ERROR");
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/^printer-1: /);
    expect(error.message).toContain('Unknown command: "M400"');
  });

  it("fails when Marlin halts, quoting Marlin", async () => {
    const { driver, sim } = await connect({ homingMs: 5000 });
    const home = run(driver, "home");
    await expect.poll(() => lines(sim).some((line) => checkedGcode(line) === "G28")).toBe(true);
    sim.halt();
    const error = await failure(home.done);
    expect(error.code).toBe("DEVICE_ERROR");
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/^printer-1: /);
    expect(error.message).toContain("Printer halted. kill() called!");
  });

  it("times out a silent device", async () => {
    const { driver, sim } = await connect();
    sim.silence(true);
    const error = await failure(run(driver, "status").done);
    expect(error.code).toBe("DEVICE_TIMEOUT");
  });

  it("sends M410 when cancelled mid-move, stopping short of the target", async () => {
    const { driver, sim } = await connect({ motionMs: 3000 });
    const controller = new AbortController();
    const move = run(driver, "move", { x: 50 }, controller.signal);
    await expect.poll(() => lines(sim).some((line) => checkedGcode(line) === "M400")).toBe(true);
    controller.abort();
    const error = await failure(move.done);
    expect(error.code).toBe("CANCELLED");
    await expect.poll(() => lines(sim)).toContain("M410");
    expect(sim.moving).toBe(false);
    expect(sim.position.x).toBeGreaterThan(0);
    expect(sim.position.x).toBeLessThan(50);
    // The driver settles and numbers its lines again: the next function works.
    const status = await run(driver, "status").done;
    expect(status).toMatchObject({ homed: false, y: 0, z: 0 });
    expect(status.x).toBeCloseTo(sim.position.x, 1);
  });

  it("fails a move in flight with DEVICE_DISCONNECTED within a second of an unplug", async () => {
    const { driver, sim, pair } = await connect({ motionMs: 5000 });
    const move = run(driver, "move", { x: 50 });
    await expect.poll(() => sim?.moving).toBe(true);
    const failed = failure(move.done); // listened to before the unplug makes it fail
    const start = Date.now();
    await pair.unplug();
    const error = await failed;
    expect(error.code).toBe("DEVICE_DISCONNECTED");
    expect(Date.now() - start).toBeLessThan(1000);
  });

  it("fails a long command when Marlin stays silent past the limit (no busy messages)", async () => {
    const { driver } = await connect({ homingMs: 3000, busyIntervalMs: 10_000 }, { silence_timeout_ms: 300 });
    const error = await failure(run(driver, "home").done);
    expect(error.code).toBe("DEVICE_TIMEOUT");
    expect(error.message).toContain("G28");
  });

  it("reconnects after an unplug, numbers its lines again, and is not homed any more", async () => {
    const folder = mkdtempSync(join(tmpdir(), "rigflow-marlin-"));
    folders.push(folder);
    const hostPath = join(folder, "host");
    const devicePath = join(folder, "device");
    const first = await plugCable(hostPath, devicePath);
    sim = await MarlinSimulator.start(devicePath, { homingMs: 50 });
    const d = marlin.create({
      id: "printer-1",
      driver: "marlin",
      capacity: 1,
      path: hostPath,
      baudRate: 115200,
      options: {},
    });
    driver = d;
    await d.open();
    expect(await run(d, "home").done).toMatchObject({ homed: true });
    await unplugCable(first);
    await sim.close();
    await plugCable(hostPath, devicePath);
    const second = await MarlinSimulator.start(devicePath, { homingMs: 50 });
    sim = second;
    await expect
      .poll(() => run(d, "status").done.catch((error: DeviceError) => error.code), {
        timeout: 10_000,
        interval: 200,
      })
      .toEqual({ homed: false, x: 0, y: 0, z: 0 });
    expect(lines(second)).toContain(`N0 M110 N0*${marlinChecksum("N0 M110 N0")}`);
    expect(await run(d, "home").done).toEqual({ homed: true, x: 0, y: 0, z: 0 });
  });
});
