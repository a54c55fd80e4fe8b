import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ApiHandle } from "../../src/api/server.js";
import type { CliIo } from "../../src/cli/io.js";
import { runCli } from "../../src/cli/main.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { newPrefix, servo, startTestServer, startTestWorker } from "../support/context.js";
import { doc, home, move } from "../support/pipelines.js";

// The real `rigflow` bin, spawned as a user would run it, against a real API (with a token) and a
// worker on the tests' Redis. Output is piped, so the CLI prints one plain line per event. Where a
// check needs no process of its own (errors, tables, JSON), runCli runs in this process instead:
// each spawn costs a Node start and tsx.

const bin = fileURLToPath(new URL("../../bin/rigflow.mjs", import.meta.url));
const token = "cli-test-token";
const viewerToken = "cli-viewer-token";
const devices = [
  servo("servo-1", { speed: 4000 }),
  servo("flaky", { fail_first: { move: 1 } }), // its first move fails (retryably), later ones pass
  servo("slow"),
  servo("steady", { speed: 200 }),
  // Runs that must still be going when the CLI (a process of its own) has started and read them,
  // on a busy machine too: a move of 120 takes 2.4 s.
  servo("patient", { speed: 50 }),
];

let api: ApiHandle;
let worker: WorkerHandle;
let url: string;
let dir: string;

beforeAll(async () => {
  const prefix = newPrefix();
  api = await startTestServer(prefix, devices, { access: { apiToken: token, readToken: viewerToken } });
  worker = await startTestWorker(prefix, devices);
  url = `http://127.0.0.1:${api.port}`;
  dir = mkdtempSync(join(tmpdir(), "rigflow-cli-"));
});

afterAll(async () => {
  await worker?.close();
  await api?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Cli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Resolves once stdout + stderr match `pattern`; rejects if the CLI exits first. */
  waitFor(pattern: RegExp): Promise<void>;
}

const started = new Set<ChildProcess>();
afterEach(() => {
  for (const child of started)
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  started.clear();
});

function cli(args: string[], env: Record<string, string> = {}): Cli {
  const child = spawn(process.execPath, [bin, ...args], {
    env: { ...process.env, RIGFLOW_URL: url, API_TOKEN: token, NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  started.add(child);
  let stdout = "";
  let stderr = "";
  const listeners = new Set<() => void>();
  const heard = () => listeners.forEach((listener) => listener());
  child.stdout?.on("data", (chunk: Buffer) => ((stdout += chunk.toString()), heard()));
  child.stderr?.on("data", (chunk: Buffer) => ((stderr += chunk.toString()), heard()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once("close", (code) => resolve({ code, stdout, stderr })),
  );
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    waitFor: (pattern) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(stdout + stderr)) return;
          listeners.delete(check);
          resolve();
        };
        listeners.add(check);
        check();
        void exited.then(() =>
          reject(new Error(`rigflow exited before printing ${pattern}:\n${stdout}\n${stderr}`)),
        );
      }),
  };
}

const run = (args: string[], env: Record<string, string> = {}) => cli(args, env).exited;

/** The CLI in this process, with the same environment, its output kept. */
async function runHere(args: string[], env: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const output = (write: (text: string) => void) => ({ write, isTTY: false, columns: 80, rows: 24 });
  const io: CliIo = {
    env: { RIGFLOW_URL: url, API_TOKEN: token, ...env },
    stdout: output((text) => (stdout += text)),
    stderr: output((text) => (stderr += text)),
    onInterrupt: () => () => undefined,
    now: () => Date.now(),
  };
  const code = await runCli(args, io);
  return { code, stdout, stderr };
}

function pipelineFile(name: string, document: unknown): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, typeof document === "string" ? document : JSON.stringify(document));
  return path;
}

type StoredEvent = { type: string; event_id: string; node_id?: string };

async function storedEvents(runId: string): Promise<StoredEvent[]> {
  const response = await fetch(`${url}/api/runs/${runId}/events`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return ((await response.json()) as { events: StoredEvent[] }).events;
}

/** The plain watch output's event lines: each starts with a time of day. */
const eventLines = (stdout: string) =>
  stdout.split("\n").filter((line) => /^\d\d:\d\d:\d\d\.\d{3} {2}/.test(line));

const runIdOf = (text: string) => /\b(run_[A-Za-z0-9_-]+)/.exec(text)?.[1] ?? "";

const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .+:\d+:\d+/);

describe("rigflow CLI", () => {
  it("watch of a run past 1,000 nodes reads its nodes by pages: every one is counted", async () => {
    const ids = Array.from({ length: 1_100 }, (_, i) => `s${i}`);
    const wide = doc(
      "cli_wide",
      ids.map((id) => ({ id, device_id: "servo-1", function_id: "status", params: {} })),
    );
    const { runId } = await api.engine.submitRun({ document: wide });
    expect((await api.engine.waitForRun(runId, 60_000)).status).toBe("completed");
    const watched = await runHere(["watch", runId]);
    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stdout).toMatch(new RegExp(`run ${runId} completed in [0-9.]+ ?m?s: 1100 nodes\\n$`));
  });

  it("submit --watch follows a run to the end: one plain line per event, nothing missed, exit 0", async () => {
    const file = pipelineFile(
      "chain",
      doc(
        "cli_chain",
        [home("node_1", "servo-1"), move("node_2", "servo-1", 100)],
        [{ source: "node_1", target: "node_2" }],
      ),
    );
    const { code, stdout, stderr } = await run(["submit", file, "--watch"]);
    expect(code, stderr).toBe(0);
    const runId = runIdOf(stdout);
    expect(stdout.split("\n")[0]).toBe(`run ${runId} submitted (pipeline cli_chain)`);
    expect(stdout).toMatch(/ run +started: cli_chain \(2 nodes\)\n/);
    expect(stdout).toMatch(/ node_1 +running home@servo-1 \(attempt 1\)\n/);
    expect(stdout).toMatch(/ node_2 +\d+% [\d.]+ → 100\n/);
    expect(stdout).toMatch(/ node_2 +completed in \d+\.\d\d s\n/);
    expect(stdout).toMatch(new RegExp(`\\nrun ${runId} completed in \\d+\\.\\d\\d s: 2 nodes\\n$`));
    // Every stored event printed exactly once, in order.
    const events = await storedEvents(runId);
    const lines = eventLines(stdout);
    expect(lines).toHaveLength(events.length);
    expect(lines.map((line) => line.split(/ +/)[1])).toEqual(
      events.map((event) => (event.type.startsWith("node_") ? event.node_id : "run")),
    );

    // --json: the same events as the API stores them, one per line; the run has ended, so it returns.
    const json = await runHere(["watch", runId, "--json"]);
    expect(json.code).toBe(0);
    const printed = json.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as unknown);
    expect(printed).toEqual(events);
  });

  it("a failing run exits 1 with its error; retry --watch resumes it and exits 0", async () => {
    const file = pipelineFile(
      "flaky",
      doc("cli_flaky", [home("a", "servo-1"), move("b", "flaky", 50)], [{ source: "a", target: "b" }]),
    );
    const failed = await run(["submit", file, "--watch"]);
    expect(failed.code).toBe(1);
    const runId = runIdOf(failed.stdout);
    expect(failed.stdout).toMatch(/ b +failed: DEVICE_ERROR: .*injected fault on call 1 of 'move'\n/);
    expect(failed.stderr).toMatch(
      new RegExp(`^run ${runId} failed in \\d+\\.\\d\\d s: DEVICE_ERROR: node 'b' failed: .*injected fault`),
    );
    expect(failed.stderr).toContain(`rigflow retry ${runId} --watch`);
    noStack(failed.stderr);

    const retried = await run(["retry", runId, "--watch"]);
    expect(retried.code, retried.stderr).toBe(0);
    expect(retried.stdout).toMatch(/^run \S+ resumed \((running|queued)\)\n/);
    const lines = eventLines(retried.stdout);
    // Only what the retry brought: b runs again, a (completed) does not, the old failure is not shown.
    expect(lines[0]).toMatch(/ run +resumed$/);
    expect(lines.some((line) => / b +running move@flaky/.test(line))).toBe(true);
    expect(lines.some((line) => / a +running/.test(line))).toBe(false);
    expect(lines.some((line) => /failed/.test(line))).toBe(false);
    expect(retried.stdout).toMatch(new RegExp(`\\nrun ${runId} completed in .*: 2 nodes\\n$`));
  });

  it("Ctrl-C stops watching and the run goes on; cancel ends it and the watcher exits 1", async () => {
    // 180 units at 5 units/s: a move of 36 s, cut short by the cancel.
    const long = { ...move("long", "slow", 180), params: { position: 180, speed: 5 } };
    const submitted = await runHere(["submit", pipelineFile("slow", doc("cli_slow", [long]))]);
    expect(submitted.code, submitted.stderr).toBe(0);
    const runId = submitted.stdout.trim();
    expect(runId).toMatch(/^run_[A-Za-z0-9_-]+$/);

    const first = cli(["watch", runId]);
    await first.waitFor(/ long +running move@slow/);
    first.child.kill("SIGINT");
    const stopped = await first.exited;
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toContain(`Run ${runId} goes on`);
    expect(stopped.stderr).toContain(`'rigflow cancel ${runId}' stops it`);
    expect((await api.engine.getRun(runId)).status).toBe("running");

    const second = cli(["watch", runId]);
    await second.waitFor(/ long +running move@slow/);
    const cancelled = await runHere(["cancel", runId]);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toMatch(/^cancel requested for run \S+ \(it was running\)/);
    const watched = await second.exited;
    expect(watched.code).toBe(1);
    expect(watched.stdout).toMatch(/ run +cancelled\n/);
    expect(watched.stderr).toMatch(new RegExp(`^run ${runId} was cancelled`));
  });

  it("pause, resume and recover act on a run; watch names the command that moves a paused or held run on", async () => {
    // "patient" moves 120 in 2.4 s, and back to 0 at the end (where the next tests' moves start);
    // 500 is past the servo's range, so "bad" fails and is held.
    const document = {
      ...doc(
        "cli_operator",
        [move("first", "patient", 120), move("bad", "steady", 500), move("last", "patient", 0)],
        [
          { source: "first", target: "bad" },
          { source: "bad", target: "last" },
        ],
      ),
      on_failure: "hold",
    };
    const submitted = await runHere(["submit", pipelineFile("operator", document)]);
    expect(submitted.code, submitted.stderr).toBe(0);
    const runId = submitted.stdout.trim();
    const watcher = cli(["watch", runId]);
    await watcher.waitFor(/ first +running move@patient/);

    const paused = await runHere(["pause", runId]);
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toMatch(
      /^pause requested for run \S+: no node starts now; its running nodes finish first/,
    );
    await watcher.waitFor(new RegExp(`run +paused; go on with: rigflow resume ${runId}`));
    expect((await api.engine.getRun(runId)).status).toBe("paused");
    expect((await runHere(["runs", "--status", "paused"])).stdout).toContain(runId);

    const resumed = await runHere(["resume", runId]);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toBe(`run ${runId} resumed (running)\n`);
    await watcher.waitFor(
      new RegExp(
        `bad +held: DEVICE_ERROR: .*decide with: rigflow recover ${runId} bad retry\\|skip\\|complete`,
      ),
    );
    await expect.poll(async () => (await api.engine.getRun(runId)).status, { timeout: 10_000 }).toBe("held");

    const usage = await runHere(["recover", runId, "bad", "complete", "--outputs", "[1]"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("--outputs must be a JSON object");
    const completed = await runHere([
      "recover",
      runId,
      "bad",
      "complete",
      "--outputs",
      '{"complete": true, "position": 7}',
    ]);
    expect(completed.code, completed.stderr).toBe(0);
    expect(completed.stdout).toMatch(
      /^node bad of run \S+ is completed with your outputs; the run is running/,
    );
    const watched = await watcher.exited;
    expect(watched.code).toBe(0);
    expect(watched.stdout).toMatch(/ bad +completed by a person\n/);
    expect(watched.stdout).toMatch(/ last +completed in /);
  });

  it("approve and reject decide a waiting approval; watch names both commands, and approve's outputs flow on", async () => {
    // An approval asking where to go, then a move there: the approval's position feeds the move's.
    const loadThenGo = doc(
      "cli_approval",
      [
        {
          id: "load",
          type: "approval",
          message: "Load the plate, then approve",
          timeout_ms: 600_000,
          outputs: { plate_id: "string", position: "number" },
        } as never,
        { id: "go", device_id: "servo-1", function_id: "move", params: {} },
      ],
      [{ source: "load", target: "go", source_output: "position", target_input: "position" }],
    );
    const file = pipelineFile("approval", loadThenGo);
    const waitingLine = (runId: string) =>
      new RegExp(
        ` load +waiting for a person until \\d\\d:\\d\\d:\\d\\d: Load the plate, then approve; ` +
          `approve with: rigflow approve ${runId} load --output plate_id=<string> --output position=<number>; ` +
          `reject with: rigflow reject ${runId} load\n`,
      );

    const submitted = await runHere(["submit", file]);
    expect(submitted.code, submitted.stderr).toBe(0);
    const runId = submitted.stdout.trim();
    const watcher = cli(["watch", runId]);
    await watcher.waitFor(waitingLine(runId));
    expect((await runHere(["runs", "--status", "waiting"])).stdout).toContain(runId);

    // Each output is name=value: JSON when it parses (42 a number), else text (P-17); the API
    // checks them against the approval's declared types, and says which one is wrong.
    const wrongType = await runHere([
      "approve",
      runId,
      "load",
      "--output",
      "plate_id=P-17",
      "--output",
      "position=far",
    ]);
    expect(wrongType.code).toBe(3);
    expect(wrongType.stderr).toMatch(/^rigflow: .*position.* \(VALIDATION_FAILED, HTTP 400\)\n/);
    const approved = await runHere([
      "approve",
      runId,
      "load",
      "--output",
      "plate_id=P-17",
      "--output",
      "position=42",
    ]);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toMatch(
      new RegExp(`^node load of run ${runId} is approved; the run is running\n$`),
    );

    const watched = await watcher.exited;
    expect(watched.code, watched.stderr).toBe(0);
    expect(watched.stdout).toMatch(/ load +approved by a person\n/);
    expect(watched.stdout).toMatch(/ go +running move@servo-1 \(attempt 1\)\n/);
    expect(watched.stdout).toMatch(new RegExp(`\nrun ${runId} completed in .*: 2 nodes\n$`));
    const done = await api.engine.getRun(runId);
    expect(done.nodes.find((node) => node.nodeId === "load")?.outputs).toEqual({
      plate_id: "P-17",
      position: 42,
    });
    expect(done.nodes.find((node) => node.nodeId === "go")?.outputs).toMatchObject({ position: 42 });
    // The same command again (a person unsure it went through) answers as the first did; another
    // decision is refused: the node no longer waits.
    const again = await runHere([
      "approve",
      runId,
      "load",
      "--output",
      "plate_id=P-17",
      "--output",
      "position=42",
    ]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toBe(`node load of run ${runId} is approved; the run is completed\n`);
    const late = await runHere(["reject", runId, "load"]);
    expect(late.code).toBe(3);
    expect(late.stderr).toMatch(/\(NODE_NOT_WAITING, HTTP 409\)\n/);

    // Another run of it, rejected: the node fails REJECTED with the reason, and so does the run.
    const second = await runHere(["submit", file]);
    const secondId = second.stdout.trim();
    const secondWatcher = cli(["watch", secondId]);
    await secondWatcher.waitFor(waitingLine(secondId));
    const rejected = await runHere(["reject", secondId, "load", "--reason", "no plate in the rack"]);
    expect(rejected.code, rejected.stderr).toBe(0);
    expect(rejected.stdout).toMatch(
      new RegExp(
        `^node load of run ${secondId} is rejected and failed; ` +
          String.raw`the run (fails once its running nodes have stopped \(it was running\)|is failed)\n$`,
      ),
    );
    const failed = await secondWatcher.exited;
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/ load +failed: REJECTED: rejected: no plate in the rack\n/);
    expect(failed.stderr).toMatch(new RegExp(`^run ${secondId} failed .*REJECTED: .*no plate in the rack`));
    expect((await api.engine.getRun(secondId)).status).toBe("failed");
  });

  it("runs lists runs newest first, filters by status and pipeline, and prints JSON with --json", async () => {
    const first = await api.engine.submitRun({ document: doc("cli_list", [home("h", "servo-1")]) });
    await api.engine.waitForRun(first.runId, 10_000);
    const second = await api.engine.submitRun({ document: doc("cli_list", [home("h", "servo-1")]) });
    await api.engine.waitForRun(second.runId, 10_000);

    const table = await runHere(["runs", "--pipeline", "cli_list"]);
    expect(table.code, table.stderr).toBe(0);
    const [head, ...rows] = table.stdout.trim().split("\n");
    expect(head).toMatch(/^RUN +PIPELINE +STATUS +CREATED +TOOK$/);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatch(
      new RegExp(`^${second.runId} +cli_list +completed +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d +\\d`),
    );
    expect(rows[1]).toMatch(new RegExp(`^${first.runId} +cli_list +completed `));

    const json = await runHere(["runs", "--status", "completed", "--limit", "1", "--json"]);
    expect(json.code).toBe(0);
    const page = JSON.parse(json.stdout) as { runs: { status: string }[]; next_cursor: string | null };
    expect(page.runs).toHaveLength(1);
    expect(page.runs[0]?.status).toBe("completed");
    expect(page.next_cursor).not.toBeNull();
    expect((await runHere(["runs", "--status", "queued", "--pipeline", "cli_list"])).stdout).toBe(
      "no runs match\n",
    );
  });

  it("works with a viewer's token (RIGFLOW_TOKEN): it reads and watches, and a change says it is refused", async () => {
    const done = await api.engine.submitRun({ document: doc("cli_viewer", [home("h", "servo-1")]) });
    await api.engine.waitForRun(done.runId, 10_000);
    const viewer = { RIGFLOW_TOKEN: viewerToken, API_TOKEN: "" };
    const listed = await run(["runs", "--pipeline", "cli_viewer"], viewer);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(done.runId);
    const watched = await run(["watch", done.runId], viewer);
    expect(watched.code).toBe(0);
    expect(watched.stdout).toContain(`run ${done.runId} completed`);
    const refused = await run(["retry", done.runId], viewer);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toBe(
      "rigflow: read-token is a viewer: viewers read everything and change nothing (FORBIDDEN, HTTP 403)\n",
    );
    // --token wins over RIGFLOW_TOKEN, which wins over API_TOKEN.
    expect((await run(["runs"], { RIGFLOW_TOKEN: "wrong", API_TOKEN: token })).code).toBe(3);
    expect((await run(["runs", "--token", token], { RIGFLOW_TOKEN: "wrong" })).code).toBe(0);
  });

  it("says what is wrong in words, never a stack: bad usage exits 2, API errors and no API 3", async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server: Server = createServer();
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    // The real process for one of each kind: its exit code and stderr as a shell sees them.
    const spawned = await Promise.all([
      run(["submit", join(dir, "missing.json")]),
      run(["watch", "run_nope"]),
      run(["runs"], { RIGFLOW_URL: `http://127.0.0.1:${closedPort}` }),
    ]);
    expect(spawned.map((result) => result.code)).toEqual([2, 3, 3]);
    expect(spawned[0]?.stderr).toMatch(
      /^rigflow: cannot read \S+missing\.json: no such file\nsee 'rigflow help'/,
    );
    expect(spawned[1]?.stderr).toBe("rigflow: no run 'run_nope' (RUN_NOT_FOUND, HTTP 404)\n");
    expect(spawned[2]?.stderr).toMatch(
      /^rigflow: cannot reach the Rigflow API at http:\/\/127\.0\.0\.1:\d+: connection refused\nis the API running\?/,
    );

    const done = await api.engine.submitRun({ document: doc("cli_done", [home("h", "servo-1")]) });
    await api.engine.waitForRun(done.runId, 10_000);
    const cases: [args: string[], code: number, says: RegExp, env?: Record<string, string>][] = [
      [["submit", pipelineFile("broken", "{ nodes: [")], 2, /^rigflow: \S+broken\.json is not valid JSON: /],
      [["submit", pipelineFile("list", "[1]")], 2, /must hold a pipeline document/],
      [
        ["submit", pipelineFile("unknown", doc("cli_bad", [home("h", "servo-9")]))],
        3,
        /^rigflow: .*'servo-9'.* \(DEVICE_UNKNOWN, HTTP 400\)\n/,
      ],
      [["submit", "--pipeline", "never_saved"], 3, /\(PIPELINE_NOT_FOUND, HTTP 404\)/],
      [["retry", done.runId], 3, /\(RUN_NOT_RETRYABLE, HTTP 409\)/],
      [["cancel", done.runId], 3, /\(RUN_ALREADY_ENDED, HTTP 409\)/],
      [["runs"], 3, /\(UNAUTHORIZED, HTTP 401\)/, { API_TOKEN: "wrong" }],
      [["watch", done.runId], 3, /\(UNAUTHORIZED, HTTP 401\)/, { API_TOKEN: "" }],
      [
        [],
        2,
        /^rigflow: say what to do: submit, watch, retry, cancel, pause, resume, recover, approve, reject or runs\n/,
      ],
      [
        ["approve", done.runId],
        2,
        /approve needs a run id and a node id\nusage: rigflow approve <run_id> <node_id>/,
      ],
      [
        ["approve", done.runId, "h", "--output", "position"],
        2,
        /--output takes name=value, such as position=42/,
      ],
      [
        ["approve", done.runId, "h", "--outputs", '{"position": 1}', "--output", "position=2"],
        2,
        /output 'position' is given twice/,
      ],
      [["reject", done.runId, "h", "--output", "a=1"], 2, /^rigflow: reject takes no --output\n/],
      [["approve", done.runId, "h"], 3, /\(NODE_NOT_WAITING, HTTP 409\)/],
      [["reject", done.runId, "nope"], 3, /\(NODE_NOT_FOUND, HTTP 404\)/],
      [["frobnicate"], 2, /^rigflow: unknown command 'frobnicate'\nsee 'rigflow help' for usage\n$/],
      [["runs", "--bogus"], 2, /^rigflow: Unknown option '--bogus'\n/],
      [["runs", "--watch"], 2, /^rigflow: runs takes no --watch\n/],
      [
        ["runs", "--status", "done"],
        2,
        /--status must be one of queued, running, paused, held, completed, failed, cancelled/,
      ],
      [["runs", "--limit", "0"], 2, /--limit must be a whole number from 1 to 200/],
      [["submit"], 2, /submit takes a pipeline file or --pipeline <id>/],
      [["watch"], 2, /watch needs a run id\nusage: rigflow watch <run_id>/],
      [["watch", "../etc"], 2, /'\.\.\/etc' is not a run id/],
      [["runs", "--url", "ftp://x"], 2, /--url must be an http\(s\) URL/],
      [["runs"], 2, /RIGFLOW_URL must be an http\(s\) URL/, { RIGFLOW_URL: "localhost:8000" }],
      [["--help"], 0, /Usage:\n {2}rigflow submit <pipeline\.json>/],
      [["watch", "--help"], 0, /Exit codes: 0/],
      [["--version"], 0, /^rigflow \d+\.\d+\.\d+\n$/],
    ];
    for (const [args, code, says, env] of cases) {
      const result = await runHere(args, env);
      const output = result.stdout + result.stderr;
      expect(result.code, `${args.join(" ")}: ${output}`).toBe(code);
      expect(output, args.join(" ")).toMatch(says);
      noStack(output);
    }
  });

  it("ends quietly when its reader goes away (rigflow watch … | head -3): no stack, exit 0", async () => {
    const { runId } = await api.engine.submitRun({
      document: doc(
        "cli_pipe",
        // Back at 0 by the end: the next test's moves start from there.
        [move("p1", "patient", 120), move("p2", "patient", 60), move("p3", "patient", 0)],
        [
          { source: "p1", target: "p2" },
          { source: "p2", target: "p3" },
        ],
      ),
    });
    const watcher = cli(["watch", runId]);
    // Like `head`: read the first lines, then close the pipe while the run still has events to come.
    await watcher.waitFor(/ p1 +running/);
    watcher.child.stdout?.destroy();
    const { code, stderr } = await watcher.exited;
    expect(stderr).toBe("");
    expect(code).toBe(0);
    // The watch ended on the closed pipe, not at the run's end: the run is still going.
    expect((await api.engine.getRun(runId)).status).toBe("running");
    await api.engine.waitForRun(runId, 20_000);
  });

  it("reconnects with after= when the connection drops mid-run: no event missed, none twice", async () => {
    // A TCP proxy in front of the API whose connections the test cuts.
    const sockets = new Set<Socket>();
    const proxy = createServer((client) => {
      const upstream = connect(api.port, "127.0.0.1");
      client.pipe(upstream).pipe(client);
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on("error", () => undefined);
        socket.on("close", () => (client.destroy(), upstream.destroy(), sockets.delete(socket)));
      }
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const { runId } = await api.engine.submitRun({
        document: doc(
          "cli_steady",
          [move("m1", "patient", 120), move("m2", "patient", 0)],
          [{ source: "m1", target: "m2" }],
        ),
      });
      const { port } = proxy.address() as { port: number };
      const watcher = cli(["watch", runId], { RIGFLOW_URL: `http://127.0.0.1:${port}` });
      await watcher.waitFor(/ m1 +\d+% [\d.]+ → /);
      for (const socket of sockets) socket.destroy();
      const { code, stdout, stderr } = await watcher.exited;
      expect(code, stderr).toBe(0);
      expect(stderr).toMatch(
        /^rigflow: connection lost \(.+\); reconnecting\nrigflow: reconnected; no event was missed\n$/,
      );
      const lines = eventLines(stdout);
      expect(lines).toHaveLength((await storedEvents(runId)).length);
      expect(new Set(lines).size).toBe(lines.length);
    } finally {
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
