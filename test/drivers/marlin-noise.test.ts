import { afterEach, describe, expect, it } from "vitest";
import { failure, run } from "../support/serial/driver-calls.js";
import { marlinRig, received, type MarlinRig } from "../support/serial/marlin-rig.js";
import type { MarlinSimulator, MarlinSimulatorOptions } from "../support/serial/marlin-simulator.js";

// The marlin driver on a noisy line: the simulated Marlin garbles one bit of one byte in a share
// of the lines in either direction (seeded, so a failure can be replayed from its seed), and the
// driver must still run every command exactly once.

/** Fast timings: prompts after 40 ms of silence (G28 and M400: 100 ms), busy lines every 20 ms. */
const driverOptions = { prompt_ms: 40, silence_timeout_ms: 400 };
const simOptions: MarlinSimulatorOptions = { homingMs: 60, motionMs: 30, busyIntervalMs: 20 };

const moves = [
  { x: 10, y: 5 },
  { x: 20.5, y: 15, z: 2 },
  { x: 3 },
  { y: 30, feed: 1200 },
  { x: 0, y: 0, z: 5 },
  { z: 0.25 },
];

let rig: MarlinRig | undefined;
afterEach(async () => {
  await rig?.teardown();
  rig = undefined;
});

/** The G0/G1 lines the firmware ran, as it parsed them. */
const motions = (sim: MarlinSimulator) =>
  sim.executed.filter((c) => /^G[01]\b/.test(c.command)).map((c) => c.command);

/** Without a repeat right after itself. */
const unique = (list: string[]) => list.filter((item, i) => item !== list[i - 1]);

/** What the firmware should have run for `moves`, in order. */
const expectedMotions = moves.map((move) => {
  const words = (["x", "y", "z"] as const).flatMap((axis) =>
    move[axis] === undefined ? [] : [`${axis.toUpperCase()}${move[axis].toFixed(3)}`],
  );
  return `${move.feed === undefined ? "G0" : `G1 F${move.feed}`} ${words.join(" ")}`;
});

describe.each([
  { name: "to the firmware", noise: { toFirmware: 0.25 } },
  { name: "to the host", noise: { toHost: 0.25 } },
  { name: "both ways", noise: { toFirmware: 0.25, toHost: 0.25 } },
])("home and six moves with a quarter of the lines garbled $name", ({ noise }) => {
  it.each([1, 2, 3])("runs every command once (seed %i)", async (seed) => {
    rig = await marlinRig({ ...simOptions, noise: { seed, ...noise } }, driverOptions);
    const { driver, sim } = rig;
    const why = () => sim.noiseReport();
    expect(await run(driver, "home").done, why()).toEqual({ homed: true, x: 0, y: 0, z: 0 });
    let at = { x: 0, y: 0, z: 0 };
    for (const move of moves) {
      at = { x: move.x ?? at.x, y: move.y ?? at.y, z: move.z ?? at.z };
      expect(await run(driver, "move", move).done, why()).toEqual(at);
    }
    expect(sim.position, why()).toEqual(at);
    // Each move ran exactly once, in order, and G28 once: nothing ran twice for a resend. (A move
    // stopped by a garbled M400 that read as M410 is sent again: see marlin-noise-cases.)
    expect(motions(sim).length, why()).toBeLessThanOrEqual(moves.length + sim.emergencyStops.length);
    expect(unique(motions(sim)), why()).toEqual(expectedMotions);
    expect(
      sim.executed.filter((c) => c.command === "G28"),
      why(),
    ).toHaveLength(1);
    // Everything that ran came numbered and checked (a line whose N was garbled never runs).
    expect(
      sim.executed.filter((c) => c.n === undefined),
      why(),
    ).toEqual([]);
    // The noise did happen, in each direction asked for.
    if ("toFirmware" in noise) expect(sim.toFirmware.log.length, why()).toBeGreaterThan(0);
    if ("toHost" in noise) expect(sim.toHost.log.length, why()).toBeGreaterThan(0);
  });
});

describe("a line that stays bad", () => {
  it("fails the command with a message naming the line, within a bounded time, port open", async () => {
    rig = await marlinRig(simOptions, driverOptions);
    const { driver, sim } = rig;
    expect(await run(driver, "home").done).toMatchObject({ homed: true });
    sim.toFirmware.setProbability(1);
    const start = Date.now();
    const error = await failure(run(driver, "move", { x: 7 }).done);
    expect(error.code).toBe("DEVICE_ERROR");
    // Whichever line of the move was on the wire when the line broke.
    expect(error.message).toMatch(
      /^printer-1: line noise: gave up after \d+ tries to send '(G0 X7.000|M400|M114|M105)' \(line \d+\): the serial line is bad/,
    );
    expect(Date.now() - start).toBeLessThan(3000);
    // The port stayed open (no reset of the board), and once the line heals the driver goes on.
    expect(driver.connected).toBe(true);
    sim.toFirmware.setProbability(0);
    expect(await run(driver, "move", { x: 7 }).done).toEqual({ x: 7, y: 0, z: 0 });
    expect(motions(sim).filter((m) => m === "G0 X7.000").length).toBeLessThanOrEqual(2);
  });

  it("fails the handshake with the same message, and keeps the port open for the next try", async () => {
    rig = await marlinRig({ ...simOptions, noise: { seed: 7, toFirmware: 1 } }, driverOptions, false);
    const { driver, sim } = rig;
    const error = await failure(driver.open());
    expect(error.message).toMatch(/line noise: gave up after \d+ tries to send 'M110 N0'/);
    expect(driver.connected).toBe(true);
    sim.toFirmware.setProbability(0);
    expect(await run(driver, "status").done).toEqual({ homed: false, x: 0, y: 0, z: 0 });
    expect(received(sim).filter((line) => line.includes("M110")).length).toBeGreaterThan(1);
  });
});
