import { afterEach, describe, expect, it } from "vitest";
import { scpi } from "../../src/drivers/scpi/definition.js";
import type { Driver } from "../../src/drivers/types.js";
import { failure } from "../support/serial/driver-calls.js";
import { createPtyPair, type PtyPair } from "../support/serial/pty-pair.js";
import { ScpiSimulator, type ScpiSimulatorOptions } from "../support/serial/scpi-simulator.js";

let pair: PtyPair | undefined;
let sim: ScpiSimulator | undefined;
let driver: Driver | undefined;

const answerTimeoutMs = 300;

async function setup(options: ScpiSimulatorOptions = {}, timeoutMs = answerTimeoutMs) {
  pair = await createPtyPair();
  sim = await ScpiSimulator.start(pair.devicePath, options);
  driver = scpi.create({
    id: "dmm-1",
    driver: "scpi",
    capacity: 1,
    path: pair.hostPath,
    baudRate: 9600,
    options: { answer_timeout_ms: timeoutMs, measure_timeout_ms: timeoutMs },
  });
  return { pair, sim, driver };
}

async function connect(options: ScpiSimulatorOptions = {}, timeoutMs = answerTimeoutMs) {
  const parts = await setup(options, timeoutMs);
  await parts.driver.open();
  return parts;
}

afterEach(async () => {
  await driver?.close();
  await sim?.close();
  await pair?.unplug();
  driver = sim = pair = undefined;
});

const run = (
  d: Driver,
  functionId: string,
  params: Record<string, unknown> = {},
  signal = new AbortController().signal,
) => d.execute(functionId, params, { signal, progress: () => undefined });

const lines = (s: ScpiSimulator) => s.commands.map((c) => c.line);

describe("the scpi driver against a simulated multimeter on a pty", () => {
  it("identifies the instrument, then checks its error queue", async () => {
    const { driver, sim } = await connect();
    expect(await run(driver, "identify")).toEqual({
      manufacturer: "RIGFLOW",
      model: "DMM-1000",
      serial: "SN0001",
      firmware: "1.0",
    });
    expect(lines(sim)).toEqual(["*IDN?", "*IDN?", "SYST:ERR?"]); // the handshake, then the function
  });

  it("measures each quantity, with its value and unit", async () => {
    const { driver, sim } = await connect();
    sim.setValue("voltage_dc", 12.5);
    sim.setValue("voltage_ac", -0.000123);
    sim.setValue("current_dc", 0.0456);
    sim.setValue("resistance", 4700);
    expect(await run(driver, "measure", { quantity: "voltage_dc" })).toEqual({
      value: 12.5,
      unit: "V",
      quantity: "voltage_dc",
    });
    expect(await run(driver, "measure", { quantity: "voltage_ac" })).toEqual({
      value: -0.000123,
      unit: "V",
      quantity: "voltage_ac",
    });
    expect(await run(driver, "measure", { quantity: "current_dc" })).toEqual({
      value: 0.0456,
      unit: "A",
      quantity: "current_dc",
    });
    expect(await run(driver, "measure", { quantity: "resistance" })).toEqual({
      value: 4700,
      unit: "Ohm",
      quantity: "resistance",
    });
    expect(await run(driver, "measure")).toMatchObject({ value: 12.5, quantity: "voltage_dc" });
    expect(lines(sim).filter((l) => l.startsWith("MEAS"))).toEqual([
      "MEAS:VOLT:DC?",
      "MEAS:VOLT:AC?",
      "MEAS:CURR:DC?",
      "MEAS:RES?",
      "MEAS:VOLT:DC?",
    ]);
    expect(sim.sent.map((s) => s.text)).toContain("1.2500E+01\r\n");
  });

  it("writes a command and reads back through a query", async () => {
    const { driver, sim } = await connect();
    sim.setValue("voltage_ac", 0.5);
    expect(await run(driver, "write", { command: "CONF:VOLT:AC 10,0.001" })).toEqual({ written: true });
    expect(sim.configured).toBe("voltage_ac");
    expect(await run(driver, "query", { command: "READ?" })).toEqual({ response: "5.0000E-01" });
    expect(lines(sim).slice(1)).toEqual(["CONF:VOLT:AC 10,0.001", "SYST:ERR?", "READ?", "SYST:ERR?"]);
  });

  it("resets the instrument with *RST and *CLS", async () => {
    const { driver, sim } = await connect();
    sim.pushError(-222, "Data out of range");
    expect(await run(driver, "reset")).toEqual({ reset: true });
    expect(lines(sim).slice(1)).toEqual(["*RST", "*CLS", "SYST:ERR?"]);
    expect(sim.errors).toEqual([]);
  });

  it("fails a bad command with the instrument's SCPI error, naming device and command", async () => {
    const { driver, sim } = await connect();
    const error = await failure(run(driver, "write", { command: "FOO:BAR" }));
    expect(error.code).toBe("DEVICE_ERROR");
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(`dmm-1: 'FOO:BAR' gave SCPI error -113 "Undefined header"`);
    expect(error.details).toEqual({ scpi_error: -113 });
    expect(sim.errors).toEqual([]);
  });

  it("explains an unanswered bad query by the error queue", async () => {
    const { driver } = await connect();
    const error = await failure(run(driver, "query", { command: "MEAS:VOLT:DC? banana" }));
    expect(error.code).toBe("DEVICE_ERROR");
    expect(error.message).toBe(
      `dmm-1: 'MEAS:VOLT:DC? banana' gave SCPI error -224 "Illegal parameter value"`,
    );
  });

  it("drains the error queue and reports the first error", async () => {
    const { driver, sim } = await connect();
    sim.pushError(-221, "Settings conflict");
    const error = await failure(run(driver, "write", { command: "FOO:BAR" }));
    expect(error.code).toBe("DEVICE_ERROR");
    expect(error.message).toBe(`dmm-1: 'FOO:BAR' gave SCPI error -221 "Settings conflict"`);
    expect(error.details).toMatchObject({ scpi_error: -221 });
    expect(sim.errors).toEqual([]);
    expect(lines(sim).filter((l) => l === "SYST:ERR?")).toHaveLength(3); // two errors, then 0
    // The next function starts with an empty queue.
    expect(await run(driver, "write", { command: "CONF:RES" })).toEqual({ written: true });
  });

  it("times out a silent instrument, naming the query", async () => {
    const { driver, sim } = await connect();
    sim.silence(true);
    const error = await failure(run(driver, "query", { command: "READ?" }));
    expect(error.code).toBe("DEVICE_TIMEOUT");
    expect(error.retryable).toBe(true);
    expect(error.message).toMatch(/^dmm-1: .*'READ\?'/);
  });

  it("fails a measurement answered with garbage, saying what the device said", async () => {
    const { driver, sim } = await connect();
    sim.garbage("%%noise%%");
    const error = await failure(run(driver, "measure", { quantity: "resistance" }));
    expect(error.code).toBe("DEVICE_ERROR");
    expect(error.message).toMatch(/^dmm-1: .*'MEAS:RES\?'.*%%noise%%/);
  });

  it("runs one function at a time: a query and its error check never interleave with another", async () => {
    const { driver, sim } = await connect();
    const results = await Promise.all([
      run(driver, "write", { command: "CONF:CURR:DC" }),
      run(driver, "measure", { quantity: "resistance" }),
      run(driver, "identify"),
    ]);
    expect(results.map((r) => Object.keys(r)[0])).toEqual(["written", "value", "manufacturer"]);
    expect(lines(sim).slice(1)).toEqual([
      "CONF:CURR:DC",
      "SYST:ERR?",
      "MEAS:RES?",
      "SYST:ERR?",
      "*IDN?",
      "SYST:ERR?",
    ]);
  });

  it("rejects a cancelled function with CANCELLED", async () => {
    const { driver, sim } = await connect({}, 10_000);
    sim.delayAnswers(5000);
    const controller = new AbortController();
    const measuring = failure(run(driver, "measure", {}, controller.signal));
    await expect.poll(() => lines(sim).includes("MEAS:VOLT:DC?"), { timeout: 2000 }).toBe(true);
    controller.abort();
    expect((await measuring).code).toBe("CANCELLED");
  });

  it("does not take the late answer of a cancelled query for the next one's", async () => {
    const { driver, sim } = await connect({}, 10_000);
    sim.delayAnswers(200);
    const controller = new AbortController();
    const measuring = failure(run(driver, "measure", {}, controller.signal));
    await expect.poll(() => lines(sim).includes("MEAS:VOLT:DC?"), { timeout: 2000 }).toBe(true);
    controller.abort();
    expect((await measuring).code).toBe("CANCELLED");
    expect(await run(driver, "identify")).toMatchObject({ manufacturer: "RIGFLOW", model: "DMM-1000" });
    expect(lines(sim).slice(1)).toEqual(["MEAS:VOLT:DC?", "*IDN?", "*IDN?", "SYST:ERR?"]);
  });

  it("fails a query in flight with DEVICE_DISCONNECTED within a second of an unplug", async () => {
    const { driver, sim, pair } = await connect({}, 10_000);
    sim.delayAnswers(5000);
    const failed = failure(run(driver, "query", { command: "READ?" })); // listened to before the unplug
    await expect.poll(() => lines(sim).includes("READ?"), { timeout: 2000 }).toBe(true);
    const start = Date.now();
    await pair.unplug();
    const error = await failed;
    expect(error.code).toBe("DEVICE_DISCONNECTED");
    expect(Date.now() - start).toBeLessThan(1000);
  });

  it("rejects open() with DEVICE_TIMEOUT when the instrument does not answer *IDN?", async () => {
    const { driver, sim } = await setup();
    sim.silence(true);
    const error = await failure(driver.open());
    expect(error.code).toBe("DEVICE_TIMEOUT");
    expect(error.message).toMatch(/^dmm-1: .*'\*IDN\?'/);
  });

  it("reconnects after an unplug and redoes its handshake", async () => {
    const parts = await connect();
    const { driver } = parts;
    expect(driver.connected).toBe(true);
    await parts.pair.unplug();
    await parts.sim.close();
    await expect.poll(() => driver.connected, { timeout: 1000 }).toBe(false);
    await parts.pair.replug();
    const second = await ScpiSimulator.start(parts.pair.devicePath, { values: { resistance: 220 } });
    sim = second;
    await expect.poll(() => driver.connected, { timeout: 5000, interval: 50 }).toBe(true);
    expect(lines(second)).toEqual(["*IDN?"]); // the handshake, redone
    expect(await run(driver, "measure", { quantity: "resistance" })).toMatchObject({
      value: 220,
      unit: "Ohm",
    });
  });

  it("refuses a query given to write, and a command given to query", async () => {
    const { driver } = await connect();
    expect((await failure(run(driver, "write", { command: "READ?" }))).code).toBe("PARAMS_INVALID");
    expect((await failure(run(driver, "query", { command: "CONF:RES" }))).code).toBe("PARAMS_INVALID");
  });
});

describe("the scpi driver definition", () => {
  const spec = (id: string) => {
    const found = scpi.functions.find((f) => f.id === id);
    if (!found) throw new Error(`no function ${id}`);
    return found;
  };

  it("declares its functions with plain object schemas the engine can make partial", () => {
    expect(scpi.name).toBe("scpi");
    expect(scpi.functions.map((f) => f.id)).toEqual(["identify", "reset", "write", "query", "measure"]);
    for (const f of scpi.functions) expect(f.params.partial().safeParse({}).success).toBe(true);
    expect(spec("measure").params.parse({})).toEqual({ quantity: "voltage_dc" });
    expect(spec("measure").params.safeParse({ quantity: "frequency" }).success).toBe(false);
  });

  it("checks commands: one line, at most 256 characters, queries ending their header with '?'", () => {
    const write = spec("write").params;
    const query = spec("query").params;
    expect(write.safeParse({ command: "CONF:VOLT:DC 10" }).success).toBe(true);
    expect(write.safeParse({ command: "CONF:VOLT:DC 10\n*RST" }).success).toBe(false);
    expect(write.safeParse({ command: "READ?" }).success).toBe(false);
    expect(write.safeParse({ command: "" }).success).toBe(false);
    expect(write.safeParse({ command: `DISP:TEXT "${"x".repeat(250)}"` }).success).toBe(false);
    expect(query.safeParse({ command: "MEAS:VOLT:DC? 10,0.001" }).success).toBe(true);
    expect(query.safeParse({ command: "CONF:RES" }).success).toBe(false);
    expect(query.safeParse({ command: "READ?", extra: 1 }).success).toBe(false);
  });
});
