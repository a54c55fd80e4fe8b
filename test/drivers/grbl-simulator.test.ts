import { ReadlineParser, SerialPort } from "serialport";
import { afterEach, describe, expect, it, vi } from "vitest";
import { BANNER, GrblMachine, type GrblMachineOptions } from "../support/serial/grbl-machine.js";
import { GrblSimulator, type GrblSimulatorOptions } from "../support/serial/grbl-simulator.js";
import { createPtyPair, type PtyPair } from "../support/serial/pty-pair.js";

const BANNER_LINE = "Grbl 1.1h ['$' for help]";
const UNLOCK = "[MSG:'$H'|'$X' to unlock]";
const RESET = "\x18";

/** A plain host: a real SerialPort on the pty's host end, reading lines in order. */
async function openHost(path: string) {
  const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
  port.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => port.open((error) => (error ? reject(error) : resolve())));
  const lines: string[] = [];
  let cursor = 0;
  port.pipe(new ReadlineParser({ delimiter: "\n" })).on("data", (line: string) => {
    lines.push(line.replace(/\r$/, ""));
  });
  const host = {
    lines,
    write: (text: string) => void port.write(text),
    /** Waits for the next line that matches, skipping (and returning) the lines before it. */
    async expect(match: string | RegExp, timeoutMs = 3000): Promise<{ line: string; before: string[] }> {
      const test = (line: string) => (typeof match === "string" ? line === match : match.test(line));
      const index = await vi.waitFor(
        () => {
          const found = lines.findIndex((line, i) => i >= cursor && test(line));
          if (found < 0)
            throw new Error(`no line ${String(match)} in ${JSON.stringify(lines.slice(cursor))}`);
          return found;
        },
        { timeout: timeoutMs, interval: 2 },
      );
      const before = lines.slice(cursor, index);
      cursor = index + 1;
      return { line: lines[index] ?? "", before };
    },
    /** Sends a line and returns its answer lines, the final `ok` or `error:N` last. */
    async request(line: string, timeoutMs = 3000): Promise<string[]> {
      host.write(`${line}\n`);
      const { line: status, before } = await host.expect(/^(ok|error:\d+)$/, timeoutMs);
      return [...before, status];
    },
    async status(): Promise<{ state: string; mpos: number[]; raw: string }> {
      host.write("?");
      const { line } = await host.expect(/^<.*>$/);
      const [state = "", ...fields] = line.slice(1, -1).split("|");
      const mpos = fields.find((field) => field.startsWith("MPos:"))?.slice(5) ?? "";
      return { state, mpos: mpos.split(",").map(Number), raw: line };
    },
    close: () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
  return host;
}

let pair: PtyPair | undefined;
let simulator: GrblSimulator | undefined;
let host: Awaited<ReturnType<typeof openHost>> | undefined;

async function connect(options: GrblSimulatorOptions = {}) {
  pair = await createPtyPair();
  simulator = await GrblSimulator.start(pair.devicePath, options);
  host = await openHost(pair.hostPath);
  // What a driver does first, since open() flushed the boot banner: soft reset, banner; then an
  // empty line to skip whatever came before its `ok` (a boot banner that slipped through).
  host.write(RESET);
  await host.expect(BANNER_LINE);
  await host.request("");
  return { pair, simulator, host };
}

afterEach(async () => {
  await host?.close();
  await simulator?.close();
  await pair?.unplug();
  host = simulator = pair = undefined;
});

/** Polls `?` until the state is `state`, returning that report. */
async function waitForState(h: NonNullable<typeof host>, state: string, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const report = await h.status();
    if (report.state === state) return report;
    if (Date.now() > deadline) throw new Error(`still ${report.raw}, wanted ${state}`);
  }
}

describe("GrblSimulator over a real pty", () => {
  it("prints the banner after a soft reset, and starts Idle", async () => {
    const { host } = await connect();
    host.write(RESET);
    const { before } = await host.expect(BANNER_LINE);
    expect(before).toEqual([""]); // the banner starts with "\r\n"
    const report = await host.status();
    expect(report.state).toBe("Idle");
    expect(report.raw).toMatch(
      /^<Idle\|MPos:0\.000,0\.000,0\.000\|FS:0,0(\|WCO:[-\d.,]+|\|Ov:\d+,\d+,\d+)?>$/,
    );
  });

  it("answers each line with ok or error:N, and realtime bytes with neither", async () => {
    const { host, simulator } = await connect({ rapidRate: 600 });
    expect(await host.request("")).toEqual(["ok"]);
    expect(await host.request("G21 G90 (metric, absolute) ; comment")).toEqual(["ok"]);
    expect(await host.request("G1 X1")).toEqual(["error:22"]); // no feed rate yet
    expect(await host.request("G5")).toEqual(["error:20"]);
    expect(await host.request("GX1")).toEqual(["error:2"]);
    expect(await host.request("G0 G1 X1")).toEqual(["error:24"]); // two motion commands: axis conflict
    expect(await host.request("G0 G20 G21")).toEqual(["error:21"]);
    expect(await host.request("$I")).toEqual(["[VER:1.1h.20190830:]", "[OPT:V,15,128]", "ok"]);
    const settings = await host.request("$$");
    expect(settings).toContain("$22=0");
    expect(settings.at(-1)).toBe("ok");
    expect(await host.request("$G")).toEqual(["[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]", "ok"]);

    host.write("G0 X0.5\r\n"); // CRLF counts as one line end
    host.write("g0 x?0\n"); // a realtime byte inside a line is taken out of it
    const answers = [
      await host.expect(/^(ok|error)/),
      await host.expect(/^</),
      await host.expect(/^(ok|error)/),
    ];
    expect(answers.map((a) => a.line)).toEqual(["ok", expect.stringMatching(/^<(Run|Idle)\|MPos:/), "ok"]);
    expect(await host.request("G4 P0")).toEqual(["ok"]); // waits for the moves to end
    expect(simulator.commands.map((c) => c.line).slice(1)).toEqual([
      "",
      "G21 G90 (metric, absolute) ; comment",
      "G1 X1",
      "G5",
      "GX1",
      "G0 G1 X1",
      "G0 G20 G21",
      "$I",
      "$$",
      "$G",
      "G0 X0.5",
      "g0 x0",
      "G4 P0",
    ]);
    expect(simulator.commands.every((c) => c.at > 0)).toBe(true);
    expect(simulator.position).toEqual({ x: 0, y: 0, z: 0 });
  });

  it("answers a G0 at once, reports Run while it moves and Idle at the target", async () => {
    const { host, simulator } = await connect({ rapidRate: 300 }); // 5 mm/s
    const sentAt = Date.now();
    expect(await host.request("G0 X5 Y-2")).toEqual(["ok"]);
    expect(Date.now() - sentAt).toBeLessThan(500); // queued, not finished (a 1077 ms move)
    const moving = await host.status();
    expect(moving.state).toBe("Run");
    expect(moving.raw).toMatch(/\|FS:300,0/);
    const midway = await vi.waitFor(async () => {
      const report = await host.status();
      expect(report.mpos[0]).toBeGreaterThan(0.5);
      return report;
    }, 5000);
    expect(midway.state).toBe("Run");
    expect(midway.mpos[0]).toBeLessThan(5);
    const done = await waitForState(host, "Idle");
    expect(done.mpos).toEqual([5, -2, 0]);
    expect(simulator.state).toBe("Idle");
  });

  it("stops progress on feed hold `!` and resumes on `~`", async () => {
    const { host } = await connect({ rapidRate: 600 });
    expect(await host.request("G0 X10")).toEqual(["ok"]);
    await vi.waitFor(async () => expect((await host.status()).mpos[0]).toBeGreaterThan(0.2), 5000);
    host.write("!");
    const held = await waitForState(host, "Hold:0");
    const heldAt = Date.now();
    // Watch the position for 150 ms: it does not move.
    while (Date.now() - heldAt < 150) {
      const report = await host.status();
      expect(report.state).toBe("Hold:0");
      expect(report.mpos).toEqual(held.mpos);
    }
    expect(held.mpos[0]).toBeLessThan(10);
    host.write("~");
    const resumed = await host.status();
    expect(resumed.state).toBe("Run");
    const done = await waitForState(host, "Idle");
    expect(done.mpos).toEqual([10, 0, 0]);
  });

  it("aborts motion on an alarm, locks G-code out, and unlocks on $X", async () => {
    const { host, simulator } = await connect({ rapidRate: 600 });
    expect(await host.request("G0 X10")).toEqual(["ok"]);
    await vi.waitFor(async () => expect((await host.status()).mpos[0]).toBeGreaterThan(0.2), 5000);
    simulator.alarm(9);
    await host.expect("ALARM:9");
    await host.expect(BANNER_LINE); // GRBL resets itself to stop the steppers
    await host.expect(UNLOCK);
    const stopped = await host.status();
    expect(stopped.state).toBe("Alarm");
    expect(stopped.mpos[0]).toBeGreaterThan(0.2);
    expect(stopped.mpos[0]).toBeLessThan(10);
    expect(await host.request("G0 X1")).toEqual(["error:9"]);
    expect(await host.request("$X")).toEqual(["[MSG:Caution: Unlocked]", "ok"]);
    expect((await host.status()).state).toBe("Idle");
    expect(await host.request("G0 X0")).toEqual(["ok"]);
    expect((await waitForState(host, "Idle")).mpos).toEqual([0, 0, 0]);
  });

  it("ignores lines after a limit alarm until a soft reset", async () => {
    const { host, simulator } = await connect();
    simulator.alarm(1);
    await host.expect("ALARM:1");
    await host.expect("[MSG:Reset to continue]");
    const count = host.lines.length;
    host.write("$X\n?"); // GRBL's critical-event loop answers neither, not even `?`
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(host.lines.length).toBe(count);
    host.write(RESET);
    const banner = await host.expect(BANNER_LINE);
    expect(banner.before).toEqual([""]);
    await host.expect(UNLOCK);
    expect(await host.request("$X")).toEqual(["[MSG:Caution: Unlocked]", "ok"]);
  });

  it("soft reset during a move: ALARM:3, the banner, position kept", async () => {
    const { host } = await connect({ rapidRate: 600 });
    expect(await host.request("G0 Z-10")).toEqual(["ok"]);
    await vi.waitFor(async () => expect((await host.status()).mpos[2]).toBeLessThan(-0.2), 5000);
    host.write(RESET);
    await host.expect("ALARM:3");
    await host.expect(BANNER_LINE);
    await host.expect(UNLOCK);
    const report = await host.status();
    expect(report.state).toBe("Alarm");
    expect(report.mpos[2]).toBeLessThan(-0.2);
    expect(report.mpos[2]).toBeGreaterThan(-10);
  });

  it("starts in Alarm when homing is required, and homes with $H", async () => {
    const { host, simulator } = await connect({ homingRequired: true, homingMs: 300 });
    host.write(RESET);
    await host.expect(BANNER_LINE);
    await host.expect(UNLOCK);
    expect((await host.status()).state).toBe("Alarm");
    expect(await host.request("G0 X1")).toEqual(["error:9"]);
    const startedAt = Date.now();
    host.write("$H\n");
    expect((await host.status()).state).toBe("Home");
    await host.expect("ok");
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(250);
    const homed = await host.status();
    expect(homed.state).toBe("Idle");
    expect(homed.mpos).toEqual([0, 0, 0]);
    expect(await host.request("G1 X2 F6000")).toEqual(["ok"]);
    expect((await waitForState(host, "Idle")).mpos).toEqual([2, 0, 0]);
    expect(simulator.commands.map((c) => c.line)).toEqual(["", "G0 X1", "$H", "G1 X2 F6000"]);
  });

  it("answers the next line with the error failNext() asks for, then carries on", async () => {
    const { host, simulator } = await connect();
    simulator.failNext(24);
    expect(await host.request("G0 X1")).toEqual(["error:24"]);
    expect(simulator.position).toEqual({ x: 0, y: 0, z: 0 });
    expect(await host.request("G0 X1")).toEqual(["ok"]);
    expect((await waitForState(host, "Idle")).mpos).toEqual([1, 0, 0]);
  });

  it("says nothing while silenced, and answers again after", async () => {
    const { host, simulator } = await connect();
    simulator.silence(true);
    const count = host.lines.length;
    host.write("G0 X1\n?");
    const since = Date.now();
    while (Date.now() - since < 200) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(host.lines.length).toBe(count);
    }
    simulator.silence(false);
    expect(await host.request("$I")).toContain("ok");
    expect(simulator.position).toEqual({ x: 0, y: 0, z: 0 }); // the G0 was never read
    simulator.garbage();
    const { line } = await host.expect(/./);
    expect(line).toMatch(/^[!-~]{8,}$/);
  });

  it("survives an unplug: close() resolves", async () => {
    const { host, simulator, pair } = await connect({ rapidRate: 600 });
    expect(await host.request("G0 X10")).toEqual(["ok"]);
    await pair.unplug();
    simulator.alarm(1); // writes into a dead pty must not throw
    await expect(simulator.close()).resolves.toBeUndefined();
    expect(simulator.isOpen).toBe(false);
  });
});

/** The protocol machine alone, on a clock the test moves. */
function machine(options: GrblMachineOptions = {}) {
  let out = "";
  let now = 1000;
  const m = new GrblMachine(options, (text) => (out += text), now);
  m.powerOn(now);
  return {
    m,
    send: (text: string) => m.receive(Buffer.from(text, "latin1"), now),
    at: (ms: number) => m.advance((now += ms)),
    take: () => {
      const text = out;
      out = "";
      return text;
    },
  };
}

describe("GrblMachine", () => {
  it("holds back a move's ok while the 15-block planner is full", () => {
    const { send, at, take, m } = machine();
    take();
    for (let i = 1; i <= 16; i++) send(`G1 X${i} F600\n`); // 1 mm at 10 mm/s: 100 ms each
    expect(take()).toBe("ok\r\n".repeat(15));
    expect(m.plannedMoves).toBe(15);
    at(99);
    expect(take()).toBe("");
    at(2);
    expect(take()).toBe("ok\r\n");
    at(1500);
    expect(m.state).toBe("Idle");
    expect(m.position).toEqual([16, 0, 0]);
  });

  it("drops bytes past the 128-byte receive buffer while a line blocks", () => {
    const { send, take, m } = machine();
    send("G4 P1\n");
    send(`${"G0 X1\n".repeat(30)}`);
    expect(m.droppedBytes).toBe(30 * 6 - 127);
    expect(take()).not.toContain("ok");
  });

  it("answers G4 after the motion before it and the dwell", () => {
    const { send, at, take } = machine({ rapidRate: 600, timeScale: 2 });
    take();
    send("G0 X1\nG4 P0.4\n"); // 50 ms move, then 200 ms dwell at time scale 2
    expect(take()).toBe("ok\r\n");
    at(249);
    expect(take()).toBe("");
    at(1);
    expect(take()).toBe("ok\r\n");
  });

  it("answers CRLF twice when line ends are strict, like the firmware", () => {
    const { send, take } = machine({ strictLineEnds: true });
    take();
    send("G21\r\n");
    expect(take()).toBe("ok\r\nok\r\n");
  });

  it("sends WCO on the first status report, Ov on the second, neither on the third", () => {
    const { send, take } = machine();
    take();
    send("?");
    expect(take()).toBe("<Idle|MPos:0.000,0.000,0.000|FS:0,0|WCO:0.000,0.000,0.000>\r\n");
    send("?");
    expect(take()).toBe("<Idle|MPos:0.000,0.000,0.000|FS:0,0|Ov:100,100,100>\r\n");
    send("?");
    expect(take()).toBe("<Idle|MPos:0.000,0.000,0.000|FS:0,0>\r\n");
  });

  it("pauses on M0 until `~`, refuses $ commands that need Idle while moving", () => {
    const { send, at, take, m } = machine({ rapidRate: 600 });
    take();
    send("G0 X1\nM0\nG0 X2\n");
    expect(take()).toBe("ok\r\n");
    send("$H\n"); // still waiting behind M0: not read yet
    at(100);
    expect(m.state).toBe("Hold:0");
    expect(take()).toBe("");
    send("~");
    expect(take()).toBe("ok\r\nok\r\nerror:8\r\n"); // M0, G0 X2, then $H while running
    at(100);
    expect(m.position).toEqual([2, 0, 0]);
  });

  it("applies feed overrides to the reported and the real rate", () => {
    const { send, at, take, m } = machine();
    send("G1 X10 F600\n\x91\x91?");
    expect(take()).toMatch(/<Run\|MPos:0\.000,0\.000,0\.000\|FS:720,0\|WCO:[^|]*>\r\n$/);
    send("?");
    expect(take()).toContain("|Ov:120,100,100>");
    at(500); // at 12 mm/s
    expect(m.position[0]).toBeCloseTo(6, 6);
  });

  it("soft reset during homing: ALARM:6, and the $H is never answered", () => {
    const { send, at, take, m } = machine({ homingRequired: true });
    take();
    send("$H\n");
    at(50);
    send("\x18");
    expect(take()).toBe("ALARM:6\r\n");
    at(500);
    expect(take()).toBe(`${BANNER}[MSG:'$H'|'$X' to unlock]\r\n`);
    at(500);
    expect(take()).toBe("");
    expect(m.state).toBe("Alarm");
  });

  it("keeps G91 moves relative to the planned position and rounds to whole steps", () => {
    const { send, at, take, m } = machine();
    send("G91 G0 X1.0011\nX1\nG90 Y0.001\n"); // the last is shorter than a step: no move
    expect(take()).toBe(`${BANNER}${"ok\r\n".repeat(3)}`);
    at(1000);
    expect(m.position).toEqual([2, 0, 0]);
  });
});

/** A status report's fields after the state, e.g. ["MPos:0.000,0.000,0.000", "FS:0,0"]. */
const fields = (report: string) => report.trim().slice(1, -1).split("|").slice(1);

// Each case below was run against the real firmware (GRBL 1.1h on grbl-sim, default settings) and
// the expected text is what it sent.
describe("GrblMachine against the real GRBL 1.1h", () => {
  it("status reports: Pn only while a pin is active, WCO every 10th report and Ov on the next", () => {
    const { send, take, m } = machine({ activePins: "zxP" });
    take();
    const reports = Array.from({ length: 13 }, () => (send("?"), take()));
    expect(reports[0]).toBe("<Idle|MPos:0.000,0.000,0.000|FS:0,0|Pn:PXZ|WCO:0.000,0.000,0.000>\r\n");
    expect(reports[1]).toBe("<Idle|MPos:0.000,0.000,0.000|FS:0,0|Pn:PXZ|Ov:100,100,100>\r\n");
    expect(reports[2]).toBe("<Idle|MPos:0.000,0.000,0.000|FS:0,0|Pn:PXZ>\r\n");
    expect(reports.map((r) => fields(r).at(-1)?.slice(0, 3))).toEqual([
      "WCO",
      "Ov:",
      ...Array<string>(8).fill("Pn:"),
      "WCO",
      "Ov:",
      "Pn:",
    ]);
    m.setActivePins("");
    send("?");
    expect(take()).toBe("<Idle|MPos:0.000,0.000,0.000|FS:0,0>\r\n");
  });

  it("status reports while busy: WCO every 30th, Ov every 20th, and Ov at once after an override", () => {
    const { send, at, take } = machine({ rapidRate: 60 });
    send("G0 X100\n");
    take();
    const reports = Array.from({ length: 32 }, () => (send("?"), at(1), take()));
    const withField = (name: string) => reports.flatMap((r, i) => (r.includes(`|${name}:`) ? [i] : []));
    expect(withField("WCO")).toEqual([0, 30]);
    // Not on the report after the second WCO: the Ov countdown is still running then (as the firmware).
    expect(withField("Ov")).toEqual([1, 21]);
    send("\x91?");
    expect(take()).toContain("|Ov:110,100,100>");
  });

  it("refuses $ commands with error:8 in Run and Hold:1, except $G, $X and $ (help)", () => {
    const { send, at, take } = machine({ rapidRate: 600 });
    send("G0 X50\n");
    take();
    for (const state of ["Run", "Hold:1"]) {
      if (state === "Hold:1") send("!");
      at(10);
      for (const line of [
        "$$",
        "$#",
        "$I",
        "$N",
        "$H",
        "$22=1",
        "$C",
        "$J=X1F100",
        "$SLP",
        "$RST=$",
        "$N0=G0",
      ]) {
        send(`${line}\n`);
        expect({ state, line, answer: take() }).toEqual({ state, line, answer: "error:8\r\n" });
      }
      send("$G\n$X\n$XY\n");
      expect(take()).toBe("[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]\r\nok\r\nok\r\nerror:3\r\n");
    }
  });

  it("allows $ commands in Alarm but a startup line; $X unlocks", () => {
    const { send, take } = machine({ homingRequired: true });
    expect(take()).toBe(`${BANNER}[MSG:'$H'|'$X' to unlock]\r\n`);
    send("$N0=G0\n$N\n$I\n");
    expect(take()).toBe("error:8\r\n$N0=\r\n$N1=\r\nok\r\n[VER:1.1h.20190830:]\r\n[OPT:V,15,128]\r\nok\r\n");
    send("G0 X1\n$X\n$X\n");
    expect(take()).toBe("error:9\r\n[MSG:Caution: Unlocked]\r\nok\r\nok\r\n");
  });

  it("has homing disabled by default: $H answers error:5, in Idle and in Alarm", () => {
    const { send, at, take, m } = machine();
    expect(take()).toBe(BANNER);
    send("$H\n");
    expect(take()).toBe("error:5\r\n");
    m.alarm(9, 1000);
    send("$H\n$$\n");
    expect(take()).toBe("ALARM:9\r\n"); // GRBL pauses half a second after an alarm; lines wait
    at(500);
    const answers = take();
    expect(answers).toMatch(/^error:5\r\n\$0=10\r\n/);
    expect(answers).toContain("$22=0\r\n");
    expect(m.state).toBe("Alarm");
  });

  it("with homing enabled ($22=1), powers up in Alarm and homes; `$22=1` enables it too", () => {
    const locked = machine({ homingEnabled: true, homingMs: 100 });
    expect(locked.take()).toBe(`${BANNER}[MSG:'$H'|'$X' to unlock]\r\n`);
    locked.send("$H\n");
    locked.at(100);
    expect(locked.take()).toBe("ok\r\n");
    expect(locked.m.state).toBe("Idle");

    const unlocked = machine({ homingEnabled: true, homingRequired: false }); // no HOMING_INIT_LOCK
    expect(unlocked.take()).toBe(BANNER);
    const byHand = machine({ homingMs: 100 });
    byHand.take();
    byHand.send("$22=1\n$H\n");
    byHand.at(100);
    expect(byHand.take()).toBe("ok\r\nok\r\n");
  });

  it("answers `?` during homing only when the cycle ends (state Home), just before $H's ok", () => {
    const { send, at, take } = machine({ homingRequired: true, homingMs: 100 });
    take();
    send("$H\n");
    send("??");
    at(50);
    send("?");
    expect(take()).toBe("");
    at(50);
    expect(take()).toMatch(/^<Home\|MPos:0\.000,0\.000,0\.000\|FS:0,0\|WCO:[^>]*>\r\nok\r\n$/);
  });

  it("feed hold: Hold:1 while slowing down (`~` ignored, lines read), Hold:0 at rest, `~` resumes", () => {
    // 10 mm/s, slowing down at 12 mm/s^2: a hold takes 0.83 s and 4.17 mm.
    const { send, at, take, m } = machine({ rapidRate: 600 });
    send("G0 X20\n");
    at(500);
    take();
    send("!?");
    expect(take()).toMatch(/^<Hold:1\|MPos:5\.000,0\.000,0\.000\|FS:600,0/);
    at(400);
    send("~?");
    expect(fields(take()).slice(0, 2)).toEqual(["MPos:8.040,0.000,0.000", "FS:312,0"]);
    expect(m.state).toBe("Hold:1");
    send("$G\n"); // read and answered while still slowing down
    expect(take()).toBe("[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]\r\nok\r\n");
    at(500);
    send("?");
    expect(take()).toMatch(/^<Hold:0\|MPos:9\.167,0\.000,0\.000\|FS:0,0/);
    send("$G\n"); // not read at rest, until cycle start
    at(1000);
    expect(take()).toBe("");
    send("~");
    expect(take()).toBe("[GC:G0 G54 G17 G21 G90 G94 M5 M9 T0 F0 S0]\r\nok\r\n");
    expect(m.state).toBe("Run");
    at(1084);
    expect(m.state).toBe("Idle");
    expect(m.position).toEqual([20, 0, 0]);
  });

  it("feed hold in Idle: Hold:0 at once, lines wait for `~`", () => {
    const { send, take, m } = machine({ rapidRate: 600 });
    take();
    send("!G0 X1\n");
    expect(m.state).toBe("Hold:0");
    expect(take()).toBe("");
    send("~");
    expect(take()).toBe("ok\r\n");
    expect(m.state).toBe("Run");
  });

  it("soft reset in Run: ALARM:3, half a second deaf, then banner and unlock hint; locked until $X", () => {
    const { send, at, take, m } = machine({ rapidRate: 600 });
    send("G0 X20\n");
    at(300);
    take();
    send("\x18");
    expect(take()).toBe("ALARM:3\r\n");
    send("?"); // lost, as is a line: the reset clears both
    at(200);
    send("$G\n?");
    at(299);
    expect(take()).toBe("");
    at(1);
    expect(take()).toBe(`${BANNER}[MSG:'$H'|'$X' to unlock]\r\n`);
    send("?G0 X1\n$H\n$X\n");
    expect(take()).toBe(
      "<Alarm|MPos:3.000,0.000,0.000|FS:0,0|WCO:0.000,0.000,0.000>\r\nerror:9\r\nerror:5\r\n" +
        "[MSG:Caution: Unlocked]\r\nok\r\n",
    );
    expect(m.position).toEqual([3, 0, 0]);
  });

  it("soft reset in Hold:1 (still slowing down): ALARM:3 and Alarm", () => {
    const { send, at, take, m } = machine({ rapidRate: 600 });
    send("G0 X20\n");
    at(300);
    send("!");
    at(200);
    take();
    send("\x18");
    at(500);
    expect(take()).toBe(`ALARM:3\r\n${BANNER}[MSG:'$H'|'$X' to unlock]\r\n`);
    expect(m.state).toBe("Alarm");
  });

  it("soft reset in Hold:0 (at rest): no alarm, Idle, the position kept and the rest of the move gone", () => {
    const { send, at, take, m } = machine({ rapidRate: 600 });
    send("G0 X20\n");
    at(300);
    send("!");
    at(1000);
    expect(m.state).toBe("Hold:0");
    const held = m.position;
    take();
    send("\x18");
    expect(take()).toBe(BANNER);
    send("?");
    expect(take()).toBe(
      `<Idle|MPos:${held.map((n) => n.toFixed(3)).join(",")}|FS:0,0|WCO:0.000,0.000,0.000>\r\n`,
    );
    at(3000);
    expect(m.position).toEqual(held);
    expect(m.plannedMoves).toBe(0);
    send("G0 X1\n");
    expect(take()).toBe("ok\r\n");
  });

  it("soft reset in Idle: just the banner", () => {
    const { send, take, m } = machine();
    take();
    send("\x18");
    expect(take()).toBe(BANNER);
    expect(m.state).toBe("Idle");
  });

  it("a limit alarm: ALARM:1, half a second later the reset hint, then nothing answered until reset", () => {
    const { send, at, take, m } = machine();
    take();
    m.alarm(1, 1000);
    expect(take()).toBe("ALARM:1\r\n");
    at(500);
    expect(take()).toBe("[MSG:Reset to continue]\r\n");
    send("?$X\n");
    expect(take()).toBe("");
    send("\x18");
    expect(take()).toBe(`${BANNER}[MSG:'$H'|'$X' to unlock]\r\n`);
  });

  it("settings and G-code answers the firmware gives", () => {
    const { send, take } = machine();
    take();
    const answers = ["$0=2", "$20=1", "$300=1", "$22=5", "$20=1", "M7", "G0 G1 X1", "G20 F10", "$G"].map(
      (line) => (send(`${line}\n`), take()),
    );
    expect(answers).toEqual([
      "error:6\r\n", // step pulse under 3 us
      "error:10\r\n", // soft limits need homing
      "error:3\r\n",
      "ok\r\n",
      "ok\r\n",
      "error:20\r\n", // M7 is compiled out
      "error:24\r\n",
      "ok\r\n",
      "[GC:G0 G54 G17 G20 G90 G94 M5 M9 T0 F254 S0]\r\nok\r\n", // F in mm/min even under G20
    ]);
    send("$$\n");
    expect(take()).toContain("$20=1\r\n$21=0\r\n$22=1\r\n");
  });
});
