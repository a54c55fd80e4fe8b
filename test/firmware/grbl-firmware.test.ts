import { SerialPort } from "serialport";
import { afterEach, describe, expect, it } from "vitest";
import { grbl } from "../../src/drivers/grbl/definition.js";
import type { Driver } from "../../src/drivers/types.js";
import { failure, run } from "../support/serial/driver-calls.js";
import { startGrblFirmware, type GrblFirmware } from "../support/serial/grbl-firmware.js";

// The grbl driver against GRBL 1.1h's own sources (GRBL_FIRMWARE: grbl-sim's build of them), on a
// pty: what our simulator claims, held against the firmware itself.

let firmware: GrblFirmware | undefined;
let driver: Driver | undefined;
afterEach(async () => {
  await driver?.close();
  await firmware?.stop();
  driver = firmware = undefined;
});

async function connect(dir?: string): Promise<Driver> {
  firmware = await startGrblFirmware(dir);
  driver = grbl.create({ id: "cnc-1", driver: "grbl", capacity: 1, path: firmware.path, options: {} });
  await driver.open();
  return driver;
}

/** Writes GRBL settings ("$22=1") over a plain port, as an operator's terminal would. */
async function writeSettings(path: string, lines: readonly string[]): Promise<void> {
  const port = new SerialPort({ path, baudRate: 115200 });
  await new Promise<void>((resolve, reject) => port.once("open", resolve).once("error", reject));
  let text = "";
  port.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
  const until = async (pattern: RegExp) => {
    for (let waited = 0; !pattern.test(text); waited += 20) {
      if (waited > 10_000) throw new Error(`firmware said ${JSON.stringify(text)}, not ${pattern}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  await until(/Grbl 1\.1h/);
  for (const line of lines) {
    text = "";
    port.write(`${line}\n`);
    await until(/^ok\r?$/m);
  }
  await new Promise<void>((resolve) => port.close(() => resolve()));
}

describe("the grbl driver against the real GRBL 1.1h firmware", () => {
  it("reads the status, and finishes a move when GRBL reports Idle", async () => {
    const machine = await connect();
    expect(await run(machine, "status").done).toMatchObject({ state: "Idle", x: 0, y: 0, z: 0 });
    const move = run(machine, "move", { x: 2, feed: 600 });
    expect(await move.done).toEqual({ x: 2, y: 0, z: 0 });
    expect(move.progress.at(-1)).toBe(1);
  });

  it("says GRBL's own words for an error: homing is disabled by default", async () => {
    const machine = await connect();
    const error = await failure(run(machine, "home").done);
    expect(error.message).toMatch(/error 5: homing cycle failure: homing is not enabled/);
    expect(await run(machine, "status").done).toMatchObject({ state: "Idle" });
  });

  it("stops a cancelled move where it is, keeps the position, and moves again at once", async () => {
    const machine = await connect();
    const controller = new AbortController();
    const move = run(machine, "move", { x: 50, feed: 300 }, controller.signal);
    const stopped = failure(move.done);
    for (let waited = 0; (move.progress.at(-1) ?? 0) < 0.02; waited += 20) {
      if (waited > 10_000) throw new Error("the move never got under way");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    controller.abort();
    const error = await stopped;
    expect(error.code).toBe("CANCELLED");
    expect(error.message).toMatch(/kept its position/);
    // No ALARM:3: the machine is Idle where it stopped, and takes the next move.
    const after = (await run(machine, "status").done) as { state: string; x: number };
    expect(after.state).toBe("Idle");
    expect(after.x).toBeGreaterThan(0);
    expect(after.x).toBeLessThan(50);
    expect(machine.fault).toBeUndefined();
    expect(await run(machine, "move", { x: 1, feed: 600 }).done).toEqual({ x: 1, y: 0, z: 0 });
  });

  it("shows a machine that boots locked as a fault, refuses moves saying why, and clears on unlock", async () => {
    // Homing enabled: GRBL boots in alarm ("'$H'|'$X' to unlock") until homed or unlocked.
    const first = await startGrblFirmware();
    await writeSettings(first.path, ["$22=1"]);
    await first.stop();
    const machine = await connect(first.dir);
    for (let waited = 0; machine.fault === undefined; waited += 20) {
      if (waited > 5000) throw new Error("the locked machine shows no fault");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(machine.fault).toMatch(/home it or unlock it|unlock or home it/);
    const refused = await failure(run(machine, "move", { x: 1, feed: 600 }).done);
    expect(refused.message).toMatch(/unlock or home it before moving it|home it or unlock it/);
    expect(refused.retryable).toBe(false);

    expect(await run(machine, "unlock").done).toEqual({ unlocked: true });
    expect(machine.fault).toBeUndefined();
    expect(await run(machine, "move", { x: 1, feed: 600 }).done).toEqual({ x: 1, y: 0, z: 0 });
  });

  it("comes back from a critical alarm (a soft limit): the move fails saying so, and unlock resets, then unlocks", async () => {
    // Soft limits need homing on; GRBL's machine space is negative from home, so X+1 is outside it.
    const first = await startGrblFirmware();
    await writeSettings(first.path, ["$22=1", "$20=1"]);
    await first.stop();
    const machine = await connect(first.dir);
    expect(await run(machine, "unlock").done).toEqual({ unlocked: true });

    const error = await failure(run(machine, "move", { x: 1, feed: 600 }).done);
    expect(error.message).toMatch(/alarm 2: soft limit/);
    expect(machine.fault).toMatch(/alarm 2: soft limit.*unlock or home it before moving it/);
    const refused = await failure(run(machine, "move", { x: -1, feed: 600 }).done);
    expect(refused.message).toMatch(/unlock or home it before moving it/);

    expect(await run(machine, "unlock").done).toEqual({ unlocked: true });
    expect(machine.fault).toBeUndefined();
    expect(await run(machine, "move", { x: -1, feed: 600 }).done).toEqual({ x: -1, y: 0, z: 0 });
  });
});
