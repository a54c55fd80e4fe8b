import { ReadlineParser, SerialPort } from "serialport";
import { afterEach, describe, expect, it } from "vitest";
import { DeviceError } from "../../src/drivers/device-error.js";
import { disconnectAware } from "../../src/drivers/serial/disconnect-aware-binding.js";
import { SerialLines } from "../../src/drivers/serial/serial-lines.js";
import { createPtyPair, type PtyPair } from "../support/serial/pty-pair.js";

// A tiny device on the far end of a real pty: answers "PING n" with "PONG n" then "ok", says
// nothing to "QUIET", and echoes realtime bytes back as "RT <hex>".
async function startEchoDevice(path: string) {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
  port.on("error", () => undefined);
  const received: string[] = [];
  port.on("data", (chunk: Buffer) => {
    for (const byte of chunk) if (byte === 0x18) port.write("RT 18\n");
  });
  port.pipe(new ReadlineParser({ delimiter: "\n" })).on("data", (line: string) => {
    const text = line.split(String.fromCharCode(0x18)).join("");
    received.push(text);
    const ping = /^PING (\d+)$/.exec(text);
    if (ping) port.write(`PONG ${ping[1]}\r\nok\n`);
  });
  return {
    received,
    say: (line: string) => port.write(`${line}\n`),
    close: () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
}

const untilOk = (line: string) => (line === "ok" ? "done" : "more");

let pair: PtyPair | undefined;
let device: Awaited<ReturnType<typeof startEchoDevice>> | undefined;
let lines: SerialLines | undefined;

async function connect() {
  pair = await createPtyPair();
  device = await startEchoDevice(pair.devicePath);
  lines = new SerialLines({ deviceId: "dev-1", path: pair.hostPath, baudRate: 115200 });
  await lines.open();
  return { pair, device, lines };
}

afterEach(async () => {
  await lines?.close();
  await device?.close();
  await pair?.unplug();
  lines = device = pair = undefined;
});

describe("SerialLines over a real pty", () => {
  it("exchanges a line for its answer, and keeps exchanges in order, one at a time", async () => {
    const { lines } = await connect();
    const answers = await Promise.all(
      [1, 2, 3].map((n) => lines.exchange(`PING ${n}`, untilOk, { timeoutMs: 2000 })),
    );
    expect(answers).toEqual([
      ["PONG 1", "ok"],
      ["PONG 2", "ok"],
      ["PONG 3", "ok"],
    ]);
  });

  it("times out a silent device with DEVICE_TIMEOUT, and the next exchange still works", async () => {
    const { lines } = await connect();
    const error = await lines.exchange("QUIET", untilOk, { timeoutMs: 150 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeviceError);
    expect((error as DeviceError).code).toBe("DEVICE_TIMEOUT");
    expect((error as DeviceError).message).toContain("dev-1");
    expect(await lines.exchange("PING 9", untilOk, { timeoutMs: 2000 })).toEqual(["PONG 9", "ok"]);
  });

  it("cancels an exchange when its signal aborts", async () => {
    const { lines } = await connect();
    const controller = new AbortController();
    const pending = lines.exchange("QUIET", untilOk, { timeoutMs: 5000, signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toMatchObject({ code: "CANCELLED" });
  });

  it("sends realtime bytes past an exchange in flight", async () => {
    const { lines, device } = await connect();
    const unsolicited: string[] = [];
    const waiting = lines.exchange("QUIET", (line) => (line === "RT 18" ? "done" : "more"), {
      timeoutMs: 2000,
    });
    await lines.writeRealtime(Buffer.from([0x18]));
    expect(await waiting).toEqual(["RT 18"]);
    lines.on("unsolicited", (line) => unsolicited.push(line));
    device.say("hello from the device");
    await expect.poll(() => unsolicited, { timeout: 2000 }).toEqual(["hello from the device"]);
  });

  it("fails an exchange in flight with DEVICE_DISCONNECTED within a second of an unplug", async () => {
    const { lines, pair } = await connect();
    await lines.exchange("PING 1", untilOk, { timeoutMs: 2000 }); // traffic first: the case that spins
    const disconnected = new Promise<Error>((resolve) => lines.once("disconnect", resolve));
    const inFlight = lines.exchange("QUIET", untilOk, { timeoutMs: 10_000 }).catch((e: unknown) => e);
    const start = Date.now();
    await pair.unplug();
    const error = (await inFlight) as DeviceError;
    expect(error.code).toBe("DEVICE_DISCONNECTED");
    expect(Date.now() - start).toBeLessThan(1000);
    await disconnected;
    expect(lines.isOpen).toBe(false);
    await expect(lines.exchange("PING 2", untilOk, { timeoutMs: 500 })).rejects.toMatchObject({
      code: "DEVICE_DISCONNECTED",
    });
  });

  it("asks out of turn: resolves with the unsolicited line its pick makes something of", async () => {
    const { lines, device } = await connect();
    const pick = (line: string) => (line === "RT 18" ? line : undefined);
    const asked = lines.ask(Buffer.from([0x18]), pick, { timeoutMs: 2000, timeoutMessage: "no RT" });
    device.say("noise");
    expect(await asked).toBe("RT 18");
    expect(lines.listenerCount("unsolicited")).toBe(0);
    expect(lines.listenerCount("disconnect")).toBe(0);
  });

  it("times out an unanswered ask with DEVICE_TIMEOUT and its message", async () => {
    const { lines } = await connect();
    const error = await lines
      .ask("?", () => undefined, { timeoutMs: 150, timeoutMessage: "no answer to ? within 150 ms" })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "DEVICE_TIMEOUT", message: "dev-1: no answer to ? within 150 ms" });
    expect(lines.listenerCount("unsolicited")).toBe(0);
  });

  it("rejects an ask with the error its pick throws (an alarm instead of the answer)", async () => {
    const { lines, device } = await connect();
    const asked = lines.ask(
      "?",
      (line) => {
        if (line.startsWith("ALARM")) throw new DeviceError("DEVICE_ERROR", `dev-1: ${line}`, false);
        return undefined;
      },
      { timeoutMs: 2000, timeoutMessage: "no answer" },
    );
    device.say("ALARM:1");
    await expect(asked).rejects.toMatchObject({ code: "DEVICE_ERROR", message: "dev-1: ALARM:1" });
  });

  it("fails an ask whose answer is pending with DEVICE_DISCONNECTED within a second of an unplug", async () => {
    // The GRBL unplug case: the query reached the device, then the cable went before the answer
    // came. The answer can never come; a timeout would call the vanished device a slow one.
    const { lines, pair, device } = await connect();
    await lines.exchange("PING 1", untilOk, { timeoutMs: 2000 }); // traffic first: the case that spins
    const asked = lines
      .ask("QUIET\n", () => undefined, { timeoutMs: 10_000, timeoutMessage: "no answer" })
      .catch((e: unknown) => e);
    await expect.poll(() => device.received, { timeout: 2000, interval: 5 }).toContain("QUIET");
    const start = Date.now();
    await pair.unplug();
    expect(await asked).toMatchObject({ code: "DEVICE_DISCONNECTED" });
    expect(Date.now() - start).toBeLessThan(1000);
    expect(lines.listenerCount("disconnect")).toBe(0);
  });

  it("names the path when the port cannot be opened", async () => {
    const missing = new SerialLines({ deviceId: "dev-2", path: "/dev/rigflow-no-such-port", baudRate: 9600 });
    await expect(missing.open()).rejects.toMatchObject({ code: "DEVICE_DISCONNECTED" });
    await expect(missing.open()).rejects.toThrow(/rigflow-no-such-port/);
  });
});

describe("the disconnect-aware binding", () => {
  it("turns a read of zero bytes (bindings-cpp issue #162) into a disconnect", async () => {
    // A binding whose reads come back empty once the "device" is gone, as the Linux binding's do.
    let gone = false;
    let release: (() => void) | undefined;
    const port = {
      openOptions: { path: "/dev/fake", baudRate: 9600 },
      isOpen: true,
      close: () => {
        port.isOpen = false;
        release?.();
        return Promise.resolve();
      },
      read: async (buffer: Buffer) => {
        if (!gone) await new Promise<void>((resolve) => (release = resolve));
        if (!port.isOpen) throw Object.assign(new Error("closed"), { canceled: true });
        return { buffer, bytesRead: 0 };
      },
      write: () => Promise.resolve(),
      update: () => Promise.resolve(),
      set: () => Promise.resolve(),
      get: () => Promise.resolve({ cts: false, dsr: false, dcd: false }),
      getBaudRate: () => Promise.resolve({ baudRate: 9600 }),
      flush: () => Promise.resolve(),
      drain: () => Promise.resolve(),
    };
    const fake = { list: () => Promise.resolve([]), open: () => Promise.resolve(port) };
    const lines = new SerialLines({
      deviceId: "dev-3",
      path: "/dev/fake",
      baudRate: 9600,
      binding: disconnectAware(fake as unknown as Parameters<typeof disconnectAware>[0]),
    });
    await lines.open();
    const disconnected = new Promise<Error>((resolve) => lines.once("disconnect", resolve));
    const inFlight = lines.exchange("PING 1", untilOk, { timeoutMs: 5000 }).catch((e: unknown) => e);
    gone = true;
    release?.();
    expect(((await inFlight) as DeviceError).code).toBe("DEVICE_DISCONNECTED");
    expect((await disconnected).message).toContain("no bytes");
  });
});
