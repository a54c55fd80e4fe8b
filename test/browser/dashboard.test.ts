// The dashboard in a real browser: Debian's Chromium driven by playwright-core, against a real API,
// a worker and Redis. A missing Chromium fails here, loudly: `npm test` installs it first
// (scripts/ensure-system-packages.sh).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page, type WebSocket } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiHandle } from "../../src/api/server.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { newPrefix, servo, startTestServer, startTestWorker } from "../support/context.js";
import { doc, home, move } from "../support/pipelines.js";
import { chromiumArgs, chromiumPath, recordStatusChanges, type StatusChange } from "./browser.js";

// The screenshots go to test-results/ (ignored by git); UPDATE_SCREENSHOTS=1 writes the docs'
// copies under docs/ instead, so a plain test run leaves the tree as it found it.
const screenshots = fileURLToPath(
  new URL(
    process.env.UPDATE_SCREENSHOTS === "1" ? "../../docs/screenshots/" : "../../test-results/screenshots/",
    import.meta.url,
  ),
);
const token = "dashboard-test-token";
// servo-1 moves slowly enough (100 units in ~1.5 s) for a node to be seen running; servo-2's
// first move fails (an injected, retryable fault), so its run fails once and a retry completes it.
const devices = [servo("servo-1", { speed: 70 }), servo("servo-2", { speed: 400, fail_first: { move: 1 } })];

const diamond = doc(
  "assay_diamond",
  [
    home("prepare", "servo-1"),
    move("load_left", "servo-1", 40),
    move("load_right", "servo-2", 60),
    { id: "verify", device_id: "servo-1", function_id: "status", params: {} },
  ],
  [
    { source: "prepare", target: "load_left" },
    { source: "prepare", target: "load_right" },
    { source: "load_left", target: "verify" },
    { source: "load_right", target: "verify" },
  ],
);

let api: ApiHandle;
let worker: WorkerHandle;
let context: BrowserContext;
let page: Page;
let profile: string;
let base: string;
const frames: string[] = [];
/** The URL of every WebSocket the page opened. */
const socketUrls: string[] = [];

beforeAll(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `no Chromium at ${chromiumPath}: run the tests with \`npm test\` (its pretest installs Debian's ` +
        "chromium package), or `apt-get install chromium`",
    );
  }
  const prefix = newPrefix();
  worker = await startTestWorker(prefix, devices);
  api = await startTestServer(prefix, devices, { apiToken: token });
  base = `http://127.0.0.1:${api.port}`;
  profile = mkdtempSync(join(tmpdir(), "rigflow-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    viewport: { width: 1280, height: 760 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  await page.addInitScript({ content: recordStatusChanges });
  page.on("websocket", (socket: WebSocket) => {
    socketUrls.push(socket.url());
    socket.on("framereceived", ({ payload }) => frames.push(String(payload)));
  });
  mkdirSync(screenshots, { recursive: true });
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  await api?.close();
  await worker?.close();
}, 60_000);

const statusChanges = (nodeId: string) =>
  page.evaluate(
    (id) =>
      (globalThis as unknown as { statusChanges: StatusChange[] }).statusChanges
        .filter((change) => change.nodeId === id)
        .map((change) => change.status),
    nodeId,
  );

/** An element, as far as these tests read one in the page (the tests have no DOM types). */
type Attributed = { getAttribute(name: string): string | null };

const node = (nodeId: string, status?: string) =>
  page.locator(`g.dag-node[data-node-id="${nodeId}"]${status ? `[data-status="${status}"]` : ""}`);

/**
 * An approval asking which plate, whether it is sealed and where to take it, then a move there: the
 * approval's position feeds it.
 */
const loadThenMove = (id: string) => ({
  id,
  name: id,
  nodes: [
    {
      id: "load",
      type: "approval",
      message: "Load the plate, then approve",
      timeout_ms: 600_000,
      outputs: { plate_id: "string", sealed: "boolean", position: "number" },
    },
    { id: "go", device_id: "servo-1", function_id: "move", params: {} },
  ],
  edges: [{ source: "load", target: "go", source_output: "position", target_input: "position" }],
});

interface RunView {
  status: string;
  error: { code: string; node_id: string | null } | null;
  nodes: Record<
    string,
    { status: string; outputs: unknown; error: { code: string; message: string } | null }
  >;
}

/** GET through the API, with the token. */
async function read<T>(path: string): Promise<T> {
  const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

/** Starts a run through the API (with the token) and returns its id. */
async function submit(pipeline: unknown): Promise<string> {
  const response = await fetch(`${base}/api/runs`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ pipeline }),
  });
  expect(response.status).toBe(202);
  return ((await response.json()) as { run_id: string }).run_id;
}

describe("the dashboard in Chromium", () => {
  it("asks a browser for the token, then keeps a session from ?token=", async () => {
    const bare = await fetch(`${base}/runs`, { headers: { accept: "text/html" } });
    expect(bare.status).toBe(401);
    expect(await bare.text()).toContain("This server needs a token");
    const json = await fetch(`${base}/runs`);
    expect(((await json.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");

    // The sign-in form posts the token; a wrong one is told so, a right one gets a session cookie.
    const signIn = (given: string) =>
      fetch(`${base}/login`, {
        method: "POST",
        body: new URLSearchParams({ token: given, next: "/devices" }),
        redirect: "manual",
      });
    const wrong = await signIn("not-the-token");
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain("the token is not valid");
    const right = await signIn(token);
    expect(right.status).toBe(303);
    expect(right.headers.get("location")).toBe("/devices");
    expect(right.headers.get("set-cookie")).toMatch(/^rigflow_session=[\w-]{43};.*HttpOnly/);

    await page.goto(`${base}/pipelines?token=${token}`);
    expect(new URL(page.url()).search).toBe(""); // the token left the address bar
    await expect.poll(() => page.locator("#save-pipeline").count()).toBe(1);
    // The page works on the session cookie alone: no script on it can read the token.
    expect(await page.content()).not.toContain(token);
  });

  it("starts a run from the pipelines page and shows its nodes turning completed live", async () => {
    // The editor starts with the seed's demo (home, then move to 100) on the first device.
    await page.click("#save-pipeline");
    await page.locator('tr[data-pipeline-id="demo_pipeline_001"] button.start-run').click();
    await page.waitForURL(/\/runs\/run_/);
    const runId = decodeURIComponent(new URL(page.url()).pathname.split("/").pop() ?? "");

    await node("node_2", "completed").waitFor({ timeout: 15_000 });
    await page.locator('#run-status[data-status="completed"]').waitFor();
    // The move was drawn running, then completed (every value a node's data-status took was
    // recorded), driven by the events that reached the page over its WebSocket, which the events
    // list shows too. (A page slower than the move still draws both, from the replay.)
    const changes = await statusChanges("node_2");
    expect(changes.indexOf("running")).toBeGreaterThanOrEqual(0);
    expect(changes.lastIndexOf("completed")).toBeGreaterThan(changes.indexOf("running"));
    expect(await node("node_1", "completed").count()).toBe(1);
    const completedFrames = frames
      .map((frame) => JSON.parse(frame) as { type: string; run_id?: string; node_id?: string })
      .filter((event) => event.type === "node_completed" && event.run_id === runId);
    expect(completedFrames.map((event) => event.node_id).sort()).toEqual(["node_1", "node_2"]);
    await expect.poll(() => page.locator('#events li[data-type="node_completed"]').count()).toBe(2);
    // With its session cookie, the page opens /ws without the token in the URL (proxies log URLs).
    expect(socketUrls.length).toBeGreaterThan(0);
    for (const url of socketUrls) expect(url).not.toContain("token=");
  }, 60_000);

  it("shows a failed node's error, and a retry from the run page completes the run", async () => {
    await page.click('a[data-nav="pipelines"]');
    await page.locator("#pipeline-document").fill(JSON.stringify(diamond, null, 2));
    await page.click("#save-pipeline");
    await page.locator('tr[data-pipeline-id="assay_diamond"] a').click();
    await page.locator("#start-run").click();
    await page.waitForURL(/\/runs\/run_/);

    await page.locator('#run-status[data-status="failed"]').waitFor({ timeout: 15_000 });
    await node("load_right", "failed").click();
    const error = page.locator("#node-error");
    await expect.poll(() => error.textContent()).toContain("injected fault on call 1 of 'move'");
    expect(await page.locator("#run-error").textContent()).toContain("load_right");

    expect(await page.locator("#retry").isEnabled()).toBe(true);
    await page.click("#retry");
    await node("load_right", "completed").waitFor({ timeout: 15_000 });
    await node("verify", "completed").waitFor({ timeout: 15_000 });
    await page.locator('#run-status[data-status="completed"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('#events li[data-type="pipeline_resumed"]').count()).toBe(1);
    expect(await statusChanges("load_right")).toEqual(expect.arrayContaining(["failed", "completed"]));
    // Its history keeps the failed first attempt.
    await expect.poll(() => page.locator("#node-details .history").textContent()).toContain("injected fault");
    await page.screenshot({ path: join(screenshots, "run-page.png"), fullPage: true });
  }, 60_000);

  it("stays live on a 10,000-node run: counts and a page of nodes move with it, to its end", async () => {
    const size = 10_000;
    const ids = Array.from({ length: size }, (_, i) => `n${i}`);
    const chain = {
      id: "wide_assay",
      name: "wide_assay",
      nodes: ids.map((id, i) => ({
        id,
        device_id: i % 2 ? "servo-2" : "servo-1",
        function_id: "status",
        params: {},
      })),
      edges: ids.slice(1).map((id, i) => ({ source: ids[i] ?? "", target: id })),
    };
    // Through the engine: the document is over the test server's 1 MiB body limit.
    const { runId } = await api.engine.submitRun({ document: chain });
    await page.goto(`${base}/runs/${runId}`);
    const counts = page.locator("#node-counts");
    await expect.poll(() => counts.textContent(), { timeout: 15_000 }).toContain("10,000 nodes");
    await expect.poll(() => page.locator("#node-rows tr").count()).toBe(50);
    expect(await page.locator("g.dag-node").count()).toBe(0); // not drawn
    // Live: the completed count grows while the run goes on, and the first page's rows complete.
    const completed = async () =>
      Number(/completed ([\d,]+)/.exec((await counts.textContent()) ?? "")?.[1]?.replace(/,/g, "") ?? 0);
    const first = await completed();
    await expect.poll(completed, { timeout: 30_000 }).toBeGreaterThan(first);
    expect(await page.locator('#run-status[data-status="running"]').count()).toBe(1);
    await page
      .locator('#node-rows tr[data-node-id="n49"][data-status="completed"]')
      .waitFor({ timeout: 30_000 });
    // What is tested is that the page follows the run to its end, not how fast the run goes: alone
    // it takes about 40 s here, but the whole suite's other file and a slow hour of this VM (10 ms
    // a node) have taken it past two minutes.
    await page.locator('#run-status[data-status="completed"]').waitFor({ timeout: 280_000 });
    await expect.poll(completed, { timeout: 10_000 }).toBe(size);
    // The next page, and a node's details from it.
    await page.click("#nodes-next");
    await page.locator('#node-rows tr[data-node-id="n50"]').waitFor();
    await page.click('#node-rows tr[data-node-id="n57"]');
    await expect.poll(() => page.locator("#node-details").textContent()).toContain("n57");
    await page.screenshot({ path: join(screenshots, "large-run-page.png"), fullPage: true });
  }, 360_000);

  it("shows an API error in words, never a blank page", async () => {
    await page.goto(`${base}/runs/run_that_does_not_exist`);
    const error = page.locator(".error[data-error-code]");
    await expect.poll(() => error.getAttribute("data-error-code")).toBe("RUN_NOT_FOUND");
    expect(await error.textContent()).toContain("no run 'run_that_does_not_exist'");
  });

  it("shows a malformed address in words, never a blank page", async () => {
    await page.goto(`${base}/runs/%E0`);
    const error = page.locator(".error[data-error-code]");
    await expect.poll(() => error.getAttribute("data-error-code")).toBe("MALFORMED_URL");
    expect(await error.textContent()).toContain("malformed %-escape in '%E0'");
  });

  it("takes REDIS_UNAVAILABLE on the run's subscription as a drop: reconnects with after=, shows each event once", async () => {
    const runId = await submit(
      doc("redis_blip", [home("h1", "servo-1"), move("m1", "servo-1", 20)], [{ source: "h1", target: "m1" }]),
    );
    await api.engine.waitForRun(runId, 20_000);
    const stored = (await (
      await fetch(`${base}/api/runs/${runId}/events`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as { events: { event_id: string; type: string }[] };
    const listed = stored.events.filter((event) => event.type !== "node_progress");

    // The first connection passes two events on, then says what a failing Redis makes /ws say.
    const blip = await context.newPage();
    const urls: string[] = [];
    const forwarded: string[] = [];
    try {
      await blip.routeWebSocket(/\/ws\?/, (socket) => {
        urls.push(socket.url());
        const server = socket.connectToServer();
        if (urls.length > 1) return;
        server.onMessage((message) => {
          if (forwarded.length === 2) return;
          socket.send(message);
          forwarded.push((JSON.parse(String(message)) as { event_id: string }).event_id);
          if (forwarded.length === 2) {
            socket.send(
              JSON.stringify({
                type: "error",
                error: { code: "REDIS_UNAVAILABLE", message: `could not subscribe to run '${runId}'` },
              }),
            );
          }
        });
      });
      await blip.goto(`${base}/runs/${runId}`);
      await blip.locator("#live-state", { hasText: "● live" }).waitFor({ timeout: 15_000 });
      expect(urls).toHaveLength(2);
      expect(new URL(urls[0] ?? "").searchParams.get("after")).toBe("0-0");
      expect(new URL(urls[1] ?? "").searchParams.get("after")).toBe(forwarded[1]);
      // Every event listed once, in order (newest first), and no error shown for a passing fault.
      await expect.poll(() => blip.locator("#events li").count()).toBe(listed.length);
      const types = await blip
        .locator("#events li")
        .evaluateAll((items: Attributed[]) => items.map((item) => item.getAttribute("data-type")));
      expect(types).toEqual(listed.map((event) => event.type).reverse());
      expect(await blip.locator("#action-message").textContent()).toBe("");
    } finally {
      await blip.close();
    }
  }, 60_000);

  it("lists at most the newest 1,000 events of a run, and says so", async () => {
    const runId = await submit(doc("many_events", [home("h1", "servo-1")]));
    await api.engine.waitForRun(runId, 20_000);
    // A stand-in /ws that replays 1,100 events of the run, then says it is live.
    const busy = await context.newPage();
    try {
      await busy.routeWebSocket(/\/ws\?/, (socket) => {
        for (let i = 1; i <= 1100; i += 1) {
          socket.send(
            JSON.stringify({
              event_id: `${1_000_000 + i}-0`,
              run_id: runId,
              pipeline_id: "many_events",
              timestamp: new Date().toISOString(),
              type: "node_executing",
              node_id: "h1",
              function_id: "home",
              device_id: "servo-1",
              attempt: i,
            }),
          );
        }
        socket.send(JSON.stringify({ type: "subscribed", run_id: runId, replayed: 1100 }));
      });
      await busy.goto(`${base}/runs/${runId}`);
      await busy.locator("#live-state", { hasText: "● live" }).waitFor({ timeout: 15_000 });
      await expect.poll(() => busy.locator("#events li").count()).toBe(1000);
      expect(await busy.locator("#events-note").textContent()).toContain(
        "Showing the newest 1,000 of 1,100 events",
      );
      expect(await busy.locator("#events li").first().textContent()).toContain("attempt 1100");
      expect(await busy.locator("#events li").last().textContent()).toContain("attempt 101");
    } finally {
      await busy.close();
    }
  }, 60_000);

  it("keeps the runs loaded with Load more when the list refreshes live; a double click loads once", async () => {
    const filler = doc("paging", [{ id: "s", device_id: "servo-2", function_id: "status", params: {} }]);
    const older = [];
    for (let i = 0; i < 55; i += 1) older.push(await submit(filler));
    for (const runId of older) await api.engine.waitForRun(runId, 20_000);
    await page.goto(`${base}/runs?pipeline_id=paging`);
    const rows = page.locator("#runs tbody tr");
    await expect.poll(() => rows.count()).toBe(50);
    await page.locator("#live-state", { hasText: "● live" }).waitFor();
    await page.locator("#load-more").dblclick();
    await expect.poll(() => rows.count()).toBe(55);
    await page.locator("#load-more").waitFor({ state: "detached" });
    const ids = await rows.evaluateAll((items: Attributed[]) =>
      items.map((item) => item.getAttribute("data-run-id")),
    );
    expect(new Set(ids).size).toBe(55);

    // A new run starts and ends: the list reloads as many rows as it showed, the new one on top.
    const newest = await submit(filler);
    await api.engine.waitForRun(newest, 20_000);
    await page
      .locator(`#runs tbody tr:first-child[data-run-id="${newest}"] [data-status="completed"]`)
      .waitFor();
    await expect.poll(() => rows.count()).toBe(55);
    expect(await page.locator("#load-more").count()).toBe(1); // the oldest one is a page away
  }, 60_000);

  it("shows the devices: state, worker, the command running now and the queue behind it", async () => {
    // A long move on servo-1 and a second run queued behind it.
    const slow = doc(
      "slow_sweep",
      [move("sweep_out", "servo-1", 180), move("sweep_back", "servo-1", 0)],
      [{ source: "sweep_out", target: "sweep_back" }],
    );
    const started = await Promise.all([slow, slow].map((document) => submit(document)));
    await page.goto(`${base}/devices`);
    const busy = page.locator('tr[data-device-id="servo-1"]');
    await busy.locator('[data-status="busy"]').waitFor({ timeout: 15_000 });
    await expect.poll(() => busy.locator(".command").textContent()).toContain("move");
    expect(await busy.textContent()).toContain("mock-servo");
    expect(await page.locator('tr[data-device-id="servo-2"] [data-status="idle"]').count()).toBe(1);
    const table = await page.locator("#devices").boundingBox();
    const height = Math.ceil((table?.y ?? 0) + (table?.height ?? 0) + 24);
    await page.screenshot({
      path: join(screenshots, "devices-page.png"),
      clip: { x: 0, y: 0, width: 1280, height },
    });
    for (const runId of started) await api.engine.waitForRun(runId, 20_000);
  }, 60_000);

  it("cancels a running run from its run page", async () => {
    const runId = await submit(doc("long_sweep", [move("sweep", "servo-1", 180)]));
    await page.goto(`${base}/runs/${runId}`);
    await node("sweep", "running").waitFor({ timeout: 15_000 });
    await page.click("#cancel");
    await page.locator('#run-status[data-status="cancelled"]').waitFor({ timeout: 15_000 });
    await node("sweep", "cancelled").waitFor();
    expect(await page.locator("#retry").isEnabled()).toBe(true);
    expect(await page.locator("#cancel").isEnabled()).toBe(false);
  }, 60_000);

  it("pauses and resumes a run from its run page", async () => {
    const runId = await submit(
      doc(
        "pausable",
        [move("out", "servo-1", 180), move("back", "servo-1", 0)],
        [{ source: "out", target: "back" }],
      ),
    );
    await page.goto(`${base}/runs/${runId}`);
    await node("out", "running").waitFor({ timeout: 15_000 });
    expect(await page.locator("#resume").isEnabled()).toBe(false);
    await page.click("#pause");
    await page.locator('#run-status[data-status="paused"]').waitFor({ timeout: 15_000 });
    await node("out", "completed").waitFor();
    expect(await node("back", "pending").count()).toBe(1);
    expect(await page.locator("#pause").isEnabled()).toBe(false);
    await page.click("#resume");
    await page.locator('#run-status[data-status="completed"]').waitFor({ timeout: 15_000 });
    await node("back", "completed").waitFor();
    expect(await page.locator('#events li[data-type="pipeline_paused"]').count()).toBe(1);
  }, 60_000);

  it("completes a held node from the run page with a person's outputs, which flow to its successor", async () => {
    // 500 is past servo-1's range: "bad" fails, and the pipeline holds its nodes on failure.
    const runId = await submit({
      ...doc(
        "held_on_page",
        [move("bad", "servo-1", 500), { id: "after", device_id: "servo-1", function_id: "move", params: {} }],
        [{ source: "bad", target: "after", source_output: "position", target_input: "position" }],
      ),
      on_failure: "hold",
    });
    await page.goto(`${base}/runs/${runId}`);
    await page.locator('#run-status[data-status="held"]').waitFor({ timeout: 15_000 });
    await node("bad", "held").click();
    await page.locator("#recover").waitFor({ timeout: 15_000 });
    await page.fill('input[data-output="position"]', "42");
    expect(await page.locator("#approval label.invalid").count()).toBe(0); // corrected
    await page.fill('input[data-output="complete"]', "true");
    await page.screenshot({ path: join(screenshots, "run-page-held.png"), fullPage: true });
    await page.click("#recover-complete");
    await page.locator('#run-status[data-status="completed"]').waitFor({ timeout: 15_000 });
    await node("after", "completed").waitFor();
    await node("bad", "completed").click();
    await page.locator("#completed-by").waitFor();
    const run = await api.engine.getRun(runId);
    expect(run.nodes.find((n) => n.nodeId === "bad")).toMatchObject({
      completedBy: "operator",
      outputs: { position: 42, complete: true },
    });
    expect(run.nodes.find((n) => n.nodeId === "after")?.outputs).toMatchObject({ position: 42 });
  }, 60_000);

  it("approves a waiting approval from the run page: its outputs, typed, flow to the move after it", async () => {
    const runId = await submit(loadThenMove("approve_on_page"));
    await page.goto(`${base}/runs/${runId}`);
    await node("load", "waiting").waitFor({ timeout: 15_000 });
    await node("load").click();
    const form = page.locator("#approval");
    await form.waitFor();
    expect(await page.locator("#approval-message").textContent()).toBe("Load the plate, then approve");
    expect(await form.locator('input[data-output="plate_id"]').getAttribute("type")).toBe("text");
    expect(await form.locator('input[data-output="sealed"]').getAttribute("type")).toBe("checkbox");
    expect(await form.locator('input[data-output="position"]').getAttribute("type")).toBe("number");
    // No device: the graph, the details and the events say "approval", never "on null".
    const waitingLine = page.locator('#events li[data-type="node_waiting"]');
    await waitingLine.waitFor();
    for (const text of [
      await node("load").textContent(),
      await page.locator("#node-details .facts").textContent(),
      await waitingLine.textContent(),
    ]) {
      expect(text).toContain("approval");
      expect(text).not.toContain("null");
    }

    // Approved without its position, the API's refusal is shown as a recovery's is, its field marked.
    await page.fill('input[data-output="plate_id"]', "P-17");
    await page.check('input[data-output="sealed"]');
    await page.click("#approve");
    const refusal = page.locator('#action-message .error[data-error-code="VALIDATION_FAILED"]');
    await refusal.waitFor({ timeout: 15_000 });
    expect(await refusal.textContent()).toContain("'position' is missing");
    await page.locator('label.invalid input[data-output="position"]').waitFor();
    expect(await node("load", "waiting").count()).toBe(1);
    // Before the typing, not before a click: a full-page screenshot resizes the viewport for a
    // moment, and a click while the page settles back can land beside its button.
    await page.screenshot({ path: join(screenshots, "run-page-approval.png"), fullPage: true });

    await page.fill('input[data-output="position"]', "42");
    expect(await page.locator("#approval label.invalid").count()).toBe(0); // corrected
    await page.click("#approve");
    await page.locator('#run-status[data-status="completed"]').waitFor({ timeout: 15_000 });
    await node("go", "completed").waitFor();
    await node("load", "completed").waitFor();
    // The details follow the run's next snapshot, a moment after the graph's events.
    await form.waitFor({ state: "detached" });
    const run = await read<RunView>(`/api/runs/${runId}`);
    expect(run.nodes.load).toMatchObject({
      type: "approval",
      device_id: null,
      completed_by: "operator",
      outputs: { plate_id: "P-17", sealed: true, position: 42 },
    });
    expect(run.nodes.go).toMatchObject({ status: "completed", outputs: { position: 42 } });
  }, 60_000);

  it("finds a waiting run with the runs list's waiting filter, and rejects its approval with a reason", async () => {
    const runId = await submit(loadThenMove("reject_on_page"));
    const waitingIds = async () =>
      (await read<{ runs: { run_id: string }[] }>("/api/runs?status=waiting")).runs.map((r) => r.run_id);
    await expect.poll(waitingIds, { timeout: 15_000 }).toContain(runId);
    await page.goto(`${base}/runs?status=waiting`);
    expect(await page.locator("#filter-status").inputValue()).toBe("waiting");
    await page.locator(`#runs tr[data-run-id="${runId}"] a`).click();
    await page.waitForURL(new RegExp(`/runs/${runId}$`));

    await page.locator("#approval").waitFor({ timeout: 15_000 });
    await page.fill("#reject-reason", "the plate is cracked");
    await page.click("#reject");
    await page.locator('#run-status[data-status="failed"]').waitFor({ timeout: 15_000 });
    await node("load", "failed").waitFor();
    expect(await page.locator("#run-error").textContent()).toContain("REJECTED");
    expect(await page.locator("#node-error").textContent()).toContain("the plate is cracked");
    const run = await read<RunView>(`/api/runs/${runId}`);
    expect(run.error).toMatchObject({ code: "REJECTED", node_id: "load" });
    expect(run.nodes.load?.error).toMatchObject({ code: "REJECTED" });
    expect(run.nodes.load?.error?.message).toContain("the plate is cracked");
    expect(run.nodes.go?.status).not.toBe("completed");
  }, 60_000);

  it("serves Bull-board at /admin/queues with every device queue, its jobs linked to their run", async () => {
    await page.goto(`${base}/admin/queues`);
    for (const name of ["runs", "device-servo-1", "device-servo-2"]) {
      await page.getByText(name, { exact: true }).first().waitFor({ timeout: 15_000 });
    }
    // Bull-board's own API, with the browser's session cookie.
    const answer = await page.request.get(
      `${base}/admin/queues/api/queues?activeQueue=device-servo-2&status=completed&page=1`,
    );
    expect(answer.status()).toBe(200);
    const body = (await answer.json()) as {
      queues: { name: string; jobs: { id: string; externalUrl?: { href: string } }[] }[];
    };
    const jobs = body.queues.find((queue) => queue.name === "device-servo-2")?.jobs ?? [];
    expect(jobs.length).toBeGreaterThan(0);
    for (const job of jobs) {
      const [runId, , nodeId] = job.id.split("__");
      expect(job.externalUrl?.href).toBe(`/runs/${runId}?node=${nodeId}`);
    }
    const anonymous = await fetch(`${base}/admin/queues/api/queues`);
    expect(anonymous.status).toBe(401);
  });
});
