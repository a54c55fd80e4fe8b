import { ReadlineParser, SerialPort } from "serialport";
import { afterEach, describe, expect, it, vi } from "vitest";
import { grbl } from "../../src/drivers/grbl/definition.js";
import { scpi } from "../../src/drivers/scpi/definition.js";
import type { Driver } from "../../src/drivers/types.js";
import { run } from "../support/serial/driver-calls.js";
import { GrblMachine, type GrblMachineOptions } from "../support/serial/grbl-machine.js";
import { GrblSimulator } from "../support/serial/grbl-simulator.js";
import { createPtyPair, type PtyPair } from "../support/serial/pty-pair.js";
import { ScpiSimulator } from "../support/serial/scpi-simulator.js";

// The simulators count "overlapping commands": a line that reaches the device while it is still
// busy with an earlier one, which is what a device driven from two places at once would see. These
// tests show the counters fire when they should (so a test asserting zero overlaps can fail) and
// stay at zero for a host that waits, as the drivers do.

/** The GRBL protocol machine alone, on a clock the test moves. */
function machine(options: GrblMachineOptions = {}) {
  let now = 1000;
  const m = new GrblMachine(options, () => undefined, now);
  m.powerOn(now);
  return {
    m,
    send: (text: string) => m.receive(Buffer.from(text, "latin1"), now),
    at: (ms: number) => m.advance((now += ms)),
  };
}

describe("GrblMachine's overlap counter", () => {
  it("counts a move sent while the previous one still runs, not one sent once it is Idle", () => {
    const { m, send, at } = machine({ rapidRate: 600 }); // 10 mm/s
    send("G0 X1\nG0 X2\n"); // back to back: the second arrives while the first runs
    expect(m.overlapping).toEqual([
      {
        line: "G0 X2",
        at: 1000,
        state: "Run",
        plannedMoves: 1,
        after: { line: "G0 X1", at: 1000 },
      },
    ]);
    at(150);
    send("?\n"); // a status query is not a command, an empty line is nothing
    expect(m.overlapping).toHaveLength(1);
    at(100);
    expect(m.state).toBe("Idle");
    send("G0 X0\n");
    expect(m.overlapping).toHaveLength(1);
  });

  it("counts lines during homing and during a dwell", () => {
    const { m, send, at } = machine({ homingEnabled: true, homingRequired: false, homingMs: 100 });
    send("$H\n");
    at(50);
    send("$I\n"); // not even read until homing ends, but it has arrived
    expect(m.overlapping.map((o) => [o.line, o.state, o.after?.line])).toEqual([["$I", "Home", "$H"]]);
    at(60);
    expect(m.state).toBe("Idle");
    send("G4 P0.1\n");
    at(50);
    send("G0 X1\n");
    expect(m.overlapping.map((o) => [o.line, o.state, o.after?.line])).toEqual([
      ["$I", "Home", "$H"],
      ["G0 X1", "Idle", "G4 P0.1"], // Idle, but the dwell is not answered yet
    ]);
    at(60);
    send("G0 X0\n"); // X1's move, at 60000 mm/min, ended long ago
    expect(m.overlapping).toHaveLength(2);
  });
});

/** A plain host: a real SerialPort on the pty's host end, reading lines. */
async function openHost(path: string) {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
  port.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
  const lines: string[] = [];
  port.pipe(new ReadlineParser({ delimiter: "\n" })).on("data", (line: string) => {
    lines.push(line.replace(/\r$/, ""));
  });
  return {
    lines,
    write: (text: string) => void port.write(text),
    close: () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
}

let pair: PtyPair | undefined;
let grblSim: GrblSimulator | undefined;
let scpiSim: ScpiSimulator | undefined;
let host: Awaited<ReturnType<typeof openHost>> | undefined;
let driver: Driver | undefined;

afterEach(async () => {
  await host?.close();
  await driver?.close();
  await grblSim?.close();
  await scpiSim?.close();
  await pair?.unplug();
  host = driver = grblSim = scpiSim = pair = undefined;
});

describe("GrblSimulator's overlap counter over a real pty", () => {
  it("counts a second G0 written right behind the first, and not one written after Idle", async () => {
    pair = await createPtyPair();
    grblSim = await GrblSimulator.start(pair.devicePath, { rapidRate: 600 });
    const sim = grblSim;
    host = await openHost(pair.hostPath);
    host.write("G0 X3\n");
    host.write("G0 Y3\n");
    await vi.waitFor(() => expect(sim.commands).toHaveLength(2), { interval: 5 });
    expect(sim.overlaps).toBe(1);
    expect(sim.overlapping[0]).toMatchObject({ line: "G0 Y3", state: "Run", after: { line: "G0 X3" } });
    await vi.waitFor(() => expect(sim.state).toBe("Idle"), { timeout: 3000, interval: 10 });
    host.write("G0 X0 Y0\n");
    await vi.waitFor(() => expect(sim.commands).toHaveLength(3), { interval: 5 });
    expect(sim.overlaps).toBe(1);
  });

  it("sees none from the grbl driver, even given two moves at once", async () => {
    pair = await createPtyPair();
    grblSim = await GrblSimulator.start(pair.devicePath, {
      homingEnabled: true,
      homingRequired: false,
      homingMs: 50,
      rapidRate: 1200,
    });
    const sim = grblSim;
    driver = grbl.create({ id: "cnc-1", driver: "grbl", capacity: 1, path: pair.hostPath, options: {} });
    await driver.open();
    await run(driver, "home").done;
    await run(driver, "move", { x: 2, y: 1 }).done;
    await run(driver, "move", { x: 0 }).done;
    expect(sim.overlaps).toBe(0);
    // The driver takes functions one at a time, whole, even when a caller asks for two at once.
    const both = await Promise.all([run(driver, "move", { x: 4 }).done, run(driver, "move", { y: 4 }).done]);
    expect(both).toEqual([
      { x: 4, y: 1, z: 0 },
      { x: 4, y: 4, z: 0 },
    ]);
    expect(sim.overlaps).toBe(0);
  });
});

describe("ScpiSimulator's overlap counter over a real pty", () => {
  it("counts a line that arrives before the answer to an earlier query was sent", async () => {
    pair = await createPtyPair();
    scpiSim = await ScpiSimulator.start(pair.devicePath);
    const sim = scpiSim;
    host = await openHost(pair.hostPath);
    host.write("*IDN?\n*IDN?\n"); // answered at once: nothing is pending
    await vi.waitFor(() => expect(host?.lines).toHaveLength(2), { interval: 5 });
    expect(sim.overlaps).toBe(0);

    sim.delayAnswers(100); // a slow measurement
    host.write("MEAS:VOLT:DC?\n");
    host.write("SYST:ERR?\n");
    await vi.waitFor(() => expect(host?.lines).toHaveLength(4), { interval: 5 });
    expect(host.lines.slice(2)).toEqual(["1.2345E+00", '0,"No error"']);
    expect(sim.overlaps).toBe(1);
    expect(sim.overlapping[0]).toMatchObject({
      line: "SYST:ERR?",
      after: { line: "MEAS:VOLT:DC?" },
      pendingAnswers: 1,
    });

    host.write("*CLS\n"); // after every answer: no overlap
    await vi.waitFor(() => expect(sim.commands).toHaveLength(5), { interval: 5 });
    expect(sim.overlaps).toBe(1);
  });

  it("sees none from the scpi driver, even given three functions at once", async () => {
    pair = await createPtyPair();
    scpiSim = await ScpiSimulator.start(pair.devicePath);
    const sim = scpiSim;
    driver = scpi.create({ id: "dmm-1", driver: "scpi", capacity: 1, path: pair.hostPath, options: {} });
    await driver.open();
    sim.delayAnswers(20);
    const results = await Promise.all([
      run(driver, "measure", { quantity: "resistance" }).done,
      run(driver, "measure", { quantity: "voltage_dc" }).done,
      run(driver, "identify").done,
    ]);
    expect(results.map((r) => Object.values(r)[0])).toEqual([1000.5, 1.2345, "RIGFLOW"]);
    expect(sim.commands.length).toBe(7);
    expect(sim.overlaps).toBe(0);
  });
});
