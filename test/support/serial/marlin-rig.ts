import { marlin } from "../../../src/drivers/marlin/definition.js";
import type { Driver } from "../../../src/drivers/types.js";
import { marlinChecksum, MarlinSimulator, type MarlinSimulatorOptions } from "./marlin-simulator.js";
import { createPtyPair, type PtyPair } from "./pty-pair.js";

/** A marlin driver on a simulated Marlin over a pty pair. */
export interface MarlinRig {
  pair: PtyPair;
  sim: MarlinSimulator;
  driver: Driver;
  /** Closes the driver, the simulator and the cable; safe to call twice. */
  teardown(): Promise<void>;
}

/**
 * Starts the simulator (fast homing and moves unless told otherwise) and a driver on the host end;
 * opens the driver unless `open` is false. A rig that fails to come up leaves nothing behind.
 */
export async function marlinRig(
  simOptions: MarlinSimulatorOptions = {},
  driverOptions: Record<string, unknown> = {},
  open = true,
): Promise<MarlinRig> {
  const pair = await createPtyPair();
  const sim = await MarlinSimulator.start(pair.devicePath, { homingMs: 50, motionMs: 100, ...simOptions });
  const driver = marlin.create({
    id: "printer-1",
    driver: "marlin",
    capacity: 1,
    path: pair.hostPath,
    baudRate: 115200,
    options: driverOptions,
  });
  let down: Promise<void> | undefined;
  const rig: MarlinRig = {
    pair,
    sim,
    driver,
    teardown: () =>
      (down ??= (async () => {
        await driver.close();
        await sim.close();
        await pair.unplug();
      })()),
  };
  if (open) {
    try {
      await driver.open();
    } catch (error) {
      await rig.teardown();
      throw error;
    }
  }
  return rig;
}

/** The gcode of a numbered line whose checksum is right, else undefined. */
export function checkedGcode(line: string): string | undefined {
  const match = /^(N\d+ (.*))\*(\d+)$/.exec(line);
  if (!match || marlinChecksum(match[1] ?? "") !== Number(match[3])) return undefined;
  return match[2];
}

/** The raw lines the simulated Marlin received. */
export const received = (sim: MarlinSimulator) => sim.commands.map((c) => c.line);
