import { describe, expect, it } from "vitest";
import { eventLine } from "../../src/cli/event-line.js";
import { createStyle, printable } from "../../src/cli/format.js";
import { applyEvent, modelFromRun } from "../../src/cli/run-model.js";
import { frameLines, redraw, type FrameOptions } from "../../src/cli/tty-frame.js";
import type { FullRunWire, NodeWire, RunEvent } from "../../src/cli/wire.js";

// The terminal display as pure functions: what the in-place frame shows, and how it redraws.

const t0 = Date.parse("2025-01-01T10:00:00.000Z");
const iso = (ms: number) => new Date(t0 + ms).toISOString();

const node = (id: string, fields: Partial<NodeWire> = {}): NodeWire => ({
  node_id: id,
  device_id: "servo-1",
  function_id: "move",
  status: "pending",
  attempts: 0,
  outputs: null,
  error: null,
  started_at: null,
  finished_at: null,
  execution_time: null,
  ...fields,
});

const run = (nodes: NodeWire[], fields: Partial<FullRunWire> = {}): FullRunWire => ({
  run_id: "run_x",
  pipeline_id: "demo",
  pipeline_version: null,
  status: "running",
  created_at: iso(0),
  started_at: iso(0),
  finished_at: null,
  execution_time: null,
  error: null,
  node_count: nodes.length,
  node_counts: {
    pending: 0,
    queued: 0,
    running: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    held: 0,
    waiting: 0,
    skipped: 0,
  },
  nodes: Object.fromEntries(nodes.map((n) => [n.node_id, n])),
  ...fields,
});

const event = (type: string, fields: Record<string, unknown>, at = 0) =>
  ({
    event_id: `${t0 + at}-0`,
    run_id: "run_x",
    pipeline_id: "demo",
    timestamp: iso(at),
    type,
    ...fields,
  }) as RunEvent;

const options = (fields: Partial<FrameOptions> = {}): FrameOptions => ({
  now: t0 + 2000,
  columns: 100,
  maxLines: 50,
  tick: 0,
  connectionLost: null,
  style: createStyle(false),
  ...fields,
});

const sample = () =>
  modelFromRun(
    run([
      node("home", { function_id: "home", status: "completed", attempts: 1, execution_time: 0.25 }),
      node("sweep", { status: "running", attempts: 2, started_at: iso(500) }),
      node("probe", {
        device_id: "dmm-1",
        function_id: "measure",
        status: "failed",
        attempts: 1,
        execution_time: 0.1,
        error: { code: "DEVICE_TIMEOUT", message: "dmm-1 did not answer" },
      }),
      node("park"),
    ]),
    "Sweep demo",
  );

describe("watch display on a terminal", () => {
  it("shows the run, then each node: symbol, id, function@device, attempt, bar, duration, message or error", () => {
    const model = sample();
    applyEvent(
      model,
      event("node_progress", { node_id: "sweep", progress: 0.4, message: "72.0 → 180" }, 1500),
    );
    const lines = frameLines(model, options());
    expect(lines).toEqual([
      "⠋ run run_x · Sweep demo · running 2.00 s · 1/4 nodes done",
      "  ✓ home   home@servo-1   #1  ██████████ 100%    0.25 s",
      "  ⠋ sweep  move@servo-1   #2  ████░░░░░░  40%    1.50 s  72.0 → 180",
      "  ✗ probe  measure@dmm-1  #1  failed             0.10 s  DEVICE_TIMEOUT: dmm-1 did not answer",
      "  · park   move@servo-1       pending",
    ]);
  });

  it("never writes a line wider than the terminal, and folds the nodes that do not fit", () => {
    const narrow = frameLines(sample(), options({ columns: 40 }));
    for (const line of narrow) expect([...line].length).toBeLessThan(40);
    expect(narrow[3]).toMatch(/…$/);

    const short = frameLines(sample(), options({ maxLines: 3 }));
    expect(short).toHaveLength(3);
    expect(short[1]).toMatch(/^ {2}⠋ sweep/);
    expect(short[2]).toBe("  … 3 more: 1 completed, 1 failed, 1 pending");
  });

  it("says when the connection is down, and counts a retry's wait down", () => {
    const model = sample();
    applyEvent(
      model,
      event(
        "node_retrying",
        { node_id: "sweep", attempt: 3, error_message: "no answer", delay_ms: 1000 },
        1800,
      ),
    );
    const lines = frameLines(model, options({ columns: 140, connectionLost: "connection refused" }));
    expect(lines[0]).toContain("· connection lost (connection refused), reconnecting…");
    expect(lines[2]).toBe("  ↻ sweep  move@servo-1   #2  retry in 0.80 s            no answer");
  });

  it("redraws in place: up over the last frame, each line cleared, the rest of the screen cleared", () => {
    expect(redraw(0, ["a"])).toBe("\r\x1b[2Ka\n\x1b[J");
    expect(redraw(2, ["a", "b", "c"])).toBe("\x1b[2A\r\x1b[2Ka\n\r\x1b[2Kb\n\r\x1b[2Kc\n\x1b[J");
  });

  it("a replayed failure followed by a resume leaves the run running and its failed nodes waiting", () => {
    const model = sample();
    applyEvent(
      model,
      event("pipeline_error", { node_id: "probe", error_type: "DEVICE_TIMEOUT", error_message: "x" }, 100),
    );
    expect(model.status).toBe("failed");
    applyEvent(model, event("pipeline_resumed", { node_id: null }, 200));
    expect(model.status).toBe("running");
    expect(model.error).toBeNull();
    expect(model.nodes.get("probe")).toMatchObject({ status: "queued", error: null });
    expect(model.nodes.get("home")?.status).toBe("completed");
  });
});

/** The control characters (C0, DEL, C1) in `text`, by code. */
const controlsIn = (text: string) =>
  [...text].map((char) => char.charCodeAt(0)).filter((code) => code < 0x20 || (code >= 0x7f && code <= 0x9f));

describe("device and server words on a terminal", () => {
  // A device's message or a server's error with a newline, an escape sequence (clear the screen,
  // set the window title), a DEL or a C1 control (CSI) in it.
  const hostile = "line one\nline two\x1b[2J\x1b]0;pwned\x07\x7f\x9b31m\ttab";

  it("printable() shows every control character as a visible stand-in, a tab as a space", () => {
    expect(printable(hostile)).toBe("line one␊line two␛[2J␛]0;pwned␇␡�31m tab");
    expect(printable("plain 72.0 → 180 ✓ 日本")).toBe("plain 72.0 → 180 ✓ 日本");
    expect(printable("\r\0")).toBe("␍␀");
  });

  it("one plain line per event, whatever the device said", () => {
    const model = sample();
    const progress = event("node_progress", { node_id: "sweep", progress: 0.5, message: hostile }, 100);
    const failed = event(
      "node_failed",
      { node_id: "probe", error_type: "DEVICE_ERROR", error_message: "bad\r\nworse\x1b[1A" },
      200,
    );
    for (const line of [eventLine(progress, model), eventLine(failed, model)]) {
      expect(controlsIn(line)).toEqual([]);
    }
    expect(eventLine(progress, model)).toMatch(/ sweep +50% line one␊line two␛\[2J/);
    expect(eventLine(failed, model)).toMatch(/ probe +failed: DEVICE_ERROR: bad␍␊worse␛\[1A$/);
  });

  it("the frame keeps one line per node and only its own escapes, so the redraw stays in place", () => {
    const model = sample();
    applyEvent(model, event("node_progress", { node_id: "sweep", progress: 0.5, message: hostile }, 100));
    const coloured = frameLines(model, options({ columns: 200, style: createStyle(true) }));
    expect(coloured).toHaveLength(5);
    for (const line of coloured) {
      // Only colour sequences (ESC [ digits m) are left; nothing else that a terminal acts on.
      const [first = "", ...afterEscapes] = line.split("\x1b[");
      for (const part of afterEscapes) expect(part).toMatch(/^\d+m/);
      const text = [first, ...afterEscapes.map((part) => part.replace(/^\d+m/, ""))].join("");
      expect(controlsIn(text)).toEqual([]);
    }
    expect(frameLines(model, options({ columns: 200 }))[2]).toContain("line one␊line two␛[2J");
    expect(redraw(0, coloured).split("\n")).toHaveLength(6);
  });
});

describe("a waiting approval on the watch display", () => {
  const runId = "run_0123456789abcdef0123";
  const loadThenGo = () =>
    modelFromRun(
      run(
        [
          node("load", {
            device_id: null,
            function_id: "approval",
            type: "approval",
            status: "waiting",
            attempts: 1,
            started_at: iso(500),
            approval: {
              message: "Load the plate, then approve",
              outputs: { plate_id: "string", position: "number" },
              timeout_at: iso(600_500),
            },
          }),
          node("go"),
        ],
        { run_id: runId },
      ),
      "Load then go",
    );
  const approve = `rigflow approve ${runId} load --output plate_id=<string> --output position=<number>`;

  it("shows the node as approval (no device), its message, and the commands that approve or reject it", () => {
    expect(frameLines(loadThenGo(), options({ columns: 120 }))).toEqual([
      `⠋ run ${runId} · Load then go · running 2.00 s · 0/2 nodes done`,
      "  ? load  approval        waiting            1.50 s  Load the plate, then approve",
      "  · go    move@servo-1    pending",
      `  load is waiting: ${approve}`,
      `  or reject it with: rigflow reject ${runId} load`,
    ]);
  });

  it("folds a command too long for the terminal between its words, as a shell continues a line", () => {
    const lines = frameLines(loadThenGo(), options({ columns: 80 }));
    expect(lines.slice(3)).toEqual([
      `  load is waiting: rigflow approve ${runId} load \\`,
      "      --output plate_id=<string> --output position=<number>",
      `  or reject it with: rigflow reject ${runId} load`,
    ]);
    const narrow = frameLines(loadThenGo(), options({ columns: 50 }));
    for (const line of narrow) expect([...line].length).toBeLessThan(50);
    // Pasted into a shell, the folded lines are the one command; no word is cut.
    const folded = narrow.slice(
      3,
      narrow.findIndex((line) => line.startsWith("  or reject")),
    );
    expect(folded.length).toBeGreaterThan(2);
    for (const line of folded.slice(0, -1)) expect(line).toMatch(/ \\$/);
    const command = folded
      .map((line) => line.replace(/ \\$/, "").trim())
      .join(" ")
      .replace(/^load is waiting: /, "");
    expect(command).toBe(approve);
  });

  it("node_waiting is one plain line with the message, the deadline and both commands", () => {
    const model = modelFromRun(run([node("load"), node("go")], { run_id: runId }));
    const waiting = event(
      "node_waiting",
      {
        run_id: runId,
        node_id: "load",
        message: "Load the plate, then approve",
        outputs: { plate_id: "string", position: "number" },
        timeout_at: iso(600_000),
      },
      100,
    );
    applyEvent(model, waiting);
    expect(model.nodes.get("load")).toMatchObject({
      status: "waiting",
      deviceId: "servo-1",
      approval: { message: "Load the plate, then approve" },
    });
    expect(eventLine(waiting, model)).toMatch(
      new RegExp(
        String.raw`^\d\d:\d\d:\d\d\.\d{3}  load  waiting for a person until \d\d:\d\d:\d\d: Load the plate, then approve; ` +
          String.raw`approve with: ${approve}; reject with: rigflow reject ${runId} load$`,
      ),
    );
    const approved = event("node_completed", {
      node_id: "load",
      outputs: {},
      execution_time: 3,
      completed_by: "operator",
    });
    expect(eventLine(approved, model)).toMatch(/ load +approved by a person$/);
  });

  it("a run coming to rest puts its waiting approval back to queued: no command is offered for it", () => {
    const model = loadThenGo();
    applyEvent(model, event("pipeline_paused", { mode: "deferred" }, 1000));
    expect(model.nodes.get("load")?.status).toBe("queued");
    const lines = frameLines(model, options({ columns: 120 }));
    expect(lines.at(-1)).toBe(`  paused: go on with rigflow resume ${runId}`);
    expect(lines.join("\n")).not.toContain("rigflow approve");
  });
});
