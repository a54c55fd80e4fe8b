import { afterEach, describe, expect, it } from "vitest";
import { grbl } from "../../src/drivers/grbl/definition.js";
import type { CommandContext, Driver } from "../../src/drivers/types.js";
import { GrblSimulator } from "../support/serial/grbl-simulator.js";
import { failure } from "../support/serial/driver-calls.js";
import { createPtyPair, type PtyPair } from "../support/serial/pty-pair.js";

let pair: PtyPair | undefined;
let sim: GrblSimulator | undefined;
let driver: Driver | undefined;

afterEach(async () => {
  await driver?.close();
  await sim?.close();
  await pair?.unplug();
  driver = sim = pair = undefined;
});

async function connect() {
  pair = await createPtyPair();
  // 600 mm/min: a 50 mm move takes 5 s, long enough to be held on the way.
  sim = await GrblSimulator.start(pair.devicePath, { rapidRate: 600 });
  driver = grbl.create({ id: "cnc-1", driver: "grbl", capacity: 1, path: pair.hostPath, options: {} });
  await driver.open();
  return { sim, driver };
}

/** A command context whose hold on the device the test puts in doubt, then settles. */
function doubtfulContext() {
  let sure = true;
  let settle: (mayDrive: boolean) => void = () => undefined;
  const messages: string[] = [];
  const context: CommandContext = {
    signal: new AbortController().signal,
    progress: (_fraction, message) => messages.push(message),
    mayDrive: () => sure,
    untilMayDrive: () =>
      new Promise<boolean>((resolve) => {
        settle = (mayDrive) => {
          sure = mayDrive;
          resolve(mayDrive);
        };
      }),
  };
  return {
    context,
    messages,
    doubt: () => {
      sure = false;
    },
    settle: (mayDrive: boolean) => settle(mayDrive),
  };
}

// A worker unsure whether it still holds the machine's lease (its renewals unanswered) must not
// move it further, but a stalled Redis must not cost a homed machine its position either: a GRBL
// move is held with a feed hold, which keeps the position and the rest of the move.
describe("a GRBL move while its worker is unsure it may drive the machine", () => {
  it("is held with a feed hold, and goes on to its target with cycle start once the worker is sure", async () => {
    const { sim, driver } = await connect();
    const hold = doubtfulContext();
    const move = driver.execute("move", { x: 50 }, hold.context);
    await expect.poll(() => sim.state, { timeout: 2000 }).toBe("Run");
    hold.doubt();
    await expect.poll(() => sim.state, { timeout: 2000 }).toBe("Hold:0");
    const heldAt = sim.position.x;
    expect(heldAt).toBeLessThan(50);
    expect(hold.messages).toContain("held: waiting to be sure of the machine");

    hold.settle(true);
    expect(await move).toEqual({ x: 50, y: 0, z: 0 });
    expect(sim.state).toBe("Idle");
    // One move line only: the rest of the move went on from where it was held, not sent again.
    expect(sim.commands.filter((command) => command.line.startsWith("G90"))).toHaveLength(1);
  });

  it("is stopped, and fails CANCELLED, when the worker finds it may no longer drive it", async () => {
    const { sim, driver } = await connect();
    const hold = doubtfulContext();
    const move = failure(driver.execute("move", { x: 50 }, hold.context));
    await expect.poll(() => sim.state, { timeout: 2000 }).toBe("Run");
    hold.doubt();
    await expect.poll(() => sim.state, { timeout: 2000 }).toBe("Hold:0");
    const heldAt = sim.position.x;

    hold.settle(false);
    const error = await move;
    expect(error.code).toBe("CANCELLED");
    expect(error.message).toMatch(/no longer allowed to drive the machine/);
    // Stopped (soft reset) where it was held: the rest of the move is gone.
    expect(sim.state).not.toBe("Run");
    expect(sim.position.x).toBe(heldAt);
    expect(sim.plannedMoves).toBe(0);
  });
});
