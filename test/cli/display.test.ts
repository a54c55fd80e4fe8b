import { describe, expect, it } from "vitest";
import { createStyle } from "../../src/cli/format.js";
import { applyEvent, modelFromRun } from "../../src/cli/run-model.js";
import { frameLines, redraw, type FrameOptions } from "../../src/cli/tty-frame.js";
import type { NodeWire, RunEvent, RunWire } from "../../src/cli/wire.js";

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

const run = (nodes: NodeWire[], fields: Partial<RunWire> = {}): RunWire => ({
  run_id: "run_x",
  pipeline_id: "demo",
  pipeline_version: null,
  status: "running",
  created_at: iso(0),
  started_at: iso(0),
  finished_at: null,
  execution_time: null,
  error: null,
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
