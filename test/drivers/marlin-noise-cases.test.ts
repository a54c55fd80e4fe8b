import { afterEach, describe, expect, it } from "vitest";
import { run } from "../support/serial/driver-calls.js";
import { checkedGcode, marlinRig, received, type MarlinRig } from "../support/serial/marlin-rig.js";
import type { MarlinSimulator, MarlinSimulatorOptions } from "../support/serial/marlin-simulator.js";

// One garbled byte at a time, placed where it matters, and what the marlin driver does about it.
// Each test checks the command completed, and that Marlin ran the move exactly once.

const driverOptions = { prompt_ms: 40, silence_timeout_ms: 400 };
const simOptions: MarlinSimulatorOptions = { homingMs: 60, motionMs: 30, busyIntervalMs: 20 };

/** Where to garble a line (`\n` included) from the host. */
const byte = {
  N: (line: string) => line.indexOf("N"),
  newline: (line: string) => line.length - 1,
  checksum: (line: string) => line.lastIndexOf("*") + 1,
};

let rig: MarlinRig | undefined;
afterEach(async () => {
  await rig?.teardown();
  rig = undefined;
});

async function homed(options: MarlinSimulatorOptions = {}) {
  rig = await marlinRig({ ...simOptions, ...options }, driverOptions);
  expect(await run(rig.driver, "home").done).toEqual({ homed: true, x: 0, y: 0, z: 0 });
  return rig;
}

const said = (sim: MarlinSimulator) => sim.sent.map((s) => s.text).join("");
const ran = (sim: MarlinSimulator, command: string) => sim.executed.filter((c) => c.command === command);
/** The numbered lines that reached Marlin intact with this G-code. */
const intact = (sim: MarlinSimulator, gcode: string) =>
  received(sim).filter((l) => checkedGcode(l) === gcode);
const prompts = (sim: MarlinSimulator) => received(sim).filter((l) => l.includes("M105"));

describe("a garbled byte on its way to Marlin", () => {
  it("resends a line whose N was garbled, which Marlin took for an unknown command", async () => {
    const { driver, sim } = await homed();
    sim.garbleFromHost({ match: /G0 X5\.000/, at: byte.N }); // N -> O
    expect(await run(driver, "move", { x: 5 }).done).toEqual({ x: 5, y: 0, z: 0 });
    expect(said(sim)).toMatch(/echo:Unknown command: "O\d+ G0 X5.000"\nok\n/);
    expect(intact(sim, "G0 X5.000")).toHaveLength(1);
    expect(ran(sim, "G0 X5.000")).toHaveLength(1);
  });

  it("prompts with a numbered M105 when a garbled newline leaves both sides waiting", async () => {
    const { driver, sim } = await homed();
    sim.garbleFromHost({ match: /G0 X5\.000/, at: byte.newline }); // \n -> \v: Marlin waits on
    const start = Date.now();
    expect(await run(driver, "move", { x: 5 }).done).toEqual({ x: 5, y: 0, z: 0 });
    expect(Date.now() - start).toBeLessThan(1000);
    // The prompt ran into the unfinished line, and Marlin refused the two as one.
    expect(received(sim).some((l) => /G0 X5\.000\*\d+\vN\d+ M105\*\d+$/.test(l))).toBe(true);
    expect(said(sim)).toMatch(/Error:checksum mismatch, Last Line: \d+\nResend: \d+\nok\n/);
    expect(ran(sim, "G0 X5.000")).toHaveLength(1);
  });

  it("resends a line whose checksum was garbled", async () => {
    const { driver, sim } = await homed();
    sim.garbleFromHost({ match: /G0 X5\.000/, at: byte.checksum });
    expect(await run(driver, "move", { x: 5 }).done).toEqual({ x: 5, y: 0, z: 0 });
    expect(said(sim)).toMatch(/Error:checksum mismatch, Last Line: \d+\nResend: \d+\nok\n/);
    expect(ran(sim, "G0 X5.000")).toHaveLength(1);
  });

  it("repeats a garbled handshake on the open port", async () => {
    rig = await marlinRig(simOptions, driverOptions, false);
    const { driver, sim } = rig;
    sim.garbleFromHost({ match: /M110/, at: byte.N });
    sim.garbleFromHost({ match: /M110/, at: byte.newline });
    await driver.open(); // before, the first garbled M110 closed the port (and reset a real board)
    expect(said(sim)).toContain('echo:Unknown command: "O0 M110 N0"');
    expect(received(sim).filter((l) => l.includes("M110")).length).toBeGreaterThanOrEqual(2);
    expect(await run(driver, "status").done).toEqual({ homed: false, x: 0, y: 0, z: 0 });
  });

  it("sends a move again when a garbled M400 reached the emergency parser as M410", async () => {
    const { driver, sim } = await homed({ motionMs: 400 });
    // M400 -> M410: one bit. The emergency parser acts on the bytes, checksum or not.
    sim.garbleFromHost({ match: /M400/, at: (line) => line.indexOf("M400") + 2 });
    expect(await run(driver, "move", { x: 50 }).done).toEqual({ x: 50, y: 0, z: 0 });
    expect(sim.emergencyStops).toHaveLength(1);
    expect(sim.position).toEqual({ x: 50, y: 0, z: 0 });
    // The stopped move is sent once more; a move that was not stopped never is.
    expect(ran(sim, "G0 X50.000")).toHaveLength(2);
  });
});

describe("a garbled byte on its way back", () => {
  it("takes an ok with a garbled letter as an ok", async () => {
    const { driver, sim } = await homed();
    sim.garbleToHost({ match: /^ok\n$/, at: () => 1 }); // the G0's ok -> "oj"
    expect(await run(driver, "move", { x: 5 }).done).toEqual({ x: 5, y: 0, z: 0 });
    expect(prompts(sim)).toEqual([]);
    expect(ran(sim, "G0 X5.000")).toHaveLength(1);
  });

  it("prompts when an ok is lost, and never runs the line twice", async () => {
    const { driver, sim } = await homed();
    sim.garbleToHost({ match: /^ok\n$/, at: byte.newline, mask: 0x40 }); // "okJ": joins the next line
    expect(await run(driver, "move", { x: 5 }).done).toEqual({ x: 5, y: 0, z: 0 });
    // The prompt ran after the move (Marlin had it): that said the move was done.
    expect(ran(sim, "M105").length).toBeGreaterThanOrEqual(1);
    expect(intact(sim, "G0 X5.000")).toHaveLength(1);
    expect(ran(sim, "G0 X5.000")).toHaveLength(1);
  });

  it("goes by the error's line number when the Resend is garbled", async () => {
    const { driver, sim } = await homed();
    const digit = (line: string) => line.length - 2;
    sim.garbleFromHost({ match: /G0 X5\.000/, at: byte.checksum });
    sim.garbleToHost({ match: /^Resend:/, at: digit, mask: 0x40 }); // "Resend: u": no number
    sim.garbleFromHost({ match: /M400/, at: byte.checksum });
    sim.garbleToHost({ match: /^Resend:/, at: digit, mask: 0x01 }); // "Resend: <M400's + 1>"
    expect(await run(driver, "move", { x: 5 }).done).toEqual({ x: 5, y: 0, z: 0 });
    expect(sim.toHost.log).toHaveLength(2);
    expect(ran(sim, "G0 X5.000")).toHaveLength(1);
    expect(ran(sim, "M400")).toHaveLength(1);
  });

  it("never runs a line twice when a garbled Resend asks for one Marlin already has", async () => {
    const { driver, sim } = await homed();
    sim.garbleToHost({ match: /^ok\n$/, at: byte.newline, mask: 0x40 }); // the G0's ok is lost
    sim.garbleFromHost({ match: /M105/, at: byte.checksum }); // and the prompt is refused...
    sim.garbleToHost({ match: /^Resend:/, at: (line) => line.length - 2, mask: 0x03 }); // ...as "Resend: <G0>"
    expect(await run(driver, "move", { x: 5 }).done).toEqual({ x: 5, y: 0, z: 0 });
    // The driver sent the G0 again; Marlin refused it by its number.
    expect(intact(sim, "G0 X5.000")).toHaveLength(2);
    expect(said(sim)).toMatch(
      /Error:Line Number is not Last Line Number\+1, Last Line: \d+\nResend: \d+\nok/,
    );
    expect(ran(sim, "G0 X5.000")).toHaveLength(1);
  });

  it("checks a garbled digit in the M114 answer by reading again", async () => {
    rig = await marlinRig(simOptions, driverOptions);
    const { driver, sim } = rig;
    sim.garbleToHost({ match: /^X:/, at: () => 2 }); // X:0.00 -> X:1.00
    expect(await run(driver, "home").done).toEqual({ homed: true, x: 0, y: 0, z: 0 });
    expect(ran(sim, "M114").length).toBeGreaterThanOrEqual(3);
  });

  it("takes a garbled busy line as a sign of life during a long G28", async () => {
    // Busy lines 200 ms apart and a prompt after 900 ms of silence: four lines come as one (800 ms),
    // short of a prompt, while a garbled line not taken as life would leave 1,000 ms, past it. The
    // margins (100 ms each way) are wide enough for a loaded machine; 20 ms ones were not.
    rig = await marlinRig(
      { ...simOptions, homingMs: 2000, busyIntervalMs: 200 },
      { ...driverOptions, prompt_ms: 900, silence_timeout_ms: 3600 },
    );
    const { driver, sim } = rig;
    for (let i = 0; i < 3; i += 1) sim.garbleToHost({ match: /busy/, at: byte.newline, mask: 0x40 });
    expect(await run(driver, "home").done).toEqual({ homed: true, x: 0, y: 0, z: 0 });
    expect(sim.toHost.log).toHaveLength(3);
    expect(prompts(sim)).toEqual([]);
  });
});
