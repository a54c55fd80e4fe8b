// Another site's page, open in the victim's browser, tries to drive the hardware through the API
// (CSRF on every kind of request a page can send without asking, and cross-site WebSocket
// hijacking); a page on a rebound host name tries it as "same origin"; a viewer signs in and is
// shown no control that would change anything. Debian's Chromium driven by playwright-core, against
// a real API, an in-process worker and Redis.
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { chromium, type Browser, type BrowserContext, type Page, type Response } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditEntry } from "../../src/api/access/audit-log.js";
import type { AccessSettings } from "../../src/api/access/index.js";
import type { ApiHandle } from "../../src/api/server.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { newPrefix, servo, startTestServer, startTestWorker } from "../support/context.js";
import { doc, home, move } from "../support/pipelines.js";
import { rawRequest, tryUpgrade } from "../support/raw-http.js";
import { chromiumArgs, chromiumPath } from "./browser.js";

// servo-1 moves 20 units a second: the victim's move to 100 runs for 5 s, long enough for the
// attacker's page to load and try everything while it is running.
const devices = [servo("servo-1", { speed: 20 })];
const victimPipeline = doc("victim_sweep", [move("sweep", "servo-1", 100)]);
/** What the attacker's page asks the API to run: valid, short, and never to be run. */
const attackerPipeline = doc(
  "attacker_pipeline",
  [home("h", "servo-1"), move("m", "servo-1", 50)],
  [{ source: "h", target: "m" }],
);

let browser: Browser;

beforeAll(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(
      `no Chromium at ${chromiumPath}: run the tests with \`npm test\` (its pretest installs Debian's ` +
        "chromium package), or `apt-get install chromium`",
    );
  }
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: chromiumArgs });
}, 60_000);

afterAll(async () => {
  await browser?.close();
}, 60_000);

// ---------------------------------------------------------------------------------------------
// The attacker's site: its own server on another port, its page with an inline script (it is the
// attacker's page: no CSP). It reads the API's address and the run to cancel from its query, tries
// everything at once and writes what each attempt saw into <pre id="results">.

const attackerPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Free kittens</title></head>
<body>
<h1>Free kittens</h1>
<pre id="results"></pre>
<script>
const query = new URLSearchParams(location.search);
const api = query.get("api");
const runId = query.get("run");
const pipeline = ${JSON.stringify(attackerPipeline)};
const failed = (error) => ({ error: String(error) });
const seen = (response) => ({ type: response.type, status: response.status });

// A WebSocket: whether it opened and what it was sent. If it opens (it must not), it is given
// 2 s to hear something, then closed.
const openSocket = (url) =>
  new Promise((resolve) => {
    const result = { opened: false, messages: [], error: false, code: null };
    let socket;
    try {
      socket = new WebSocket(url);
    } catch (error) {
      resolve({ ...result, thrown: String(error) });
      return;
    }
    socket.onopen = () => {
      result.opened = true;
      setTimeout(() => socket.close(), 2000);
    };
    socket.onmessage = (event) => result.messages.push(String(event.data));
    socket.onerror = () => (result.error = true);
    socket.onclose = (event) => resolve({ ...result, code: event.code });
  });

// A form POSTed into a hidden frame: a plain navigation, which no CORS rule stops and which carries
// the visitor's cookies. Settled when the frame has loaded whatever the server answered.
const submitForm = () =>
  new Promise((resolve) => {
    const frame = document.createElement("iframe");
    frame.name = "sink";
    frame.style.display = "none";
    document.body.append(frame);
    frame.addEventListener("load", () => resolve({ loaded: true }), { once: true });
    const form = document.createElement("form");
    form.method = "POST";
    form.action = api + "/api/runs/" + encodeURIComponent(runId) + "/cancel";
    form.target = "sink";
    const field = document.createElement("input");
    field.name = "reason";
    field.value = "csrf";
    form.append(field);
    document.body.append(form);
    form.submit();
  });

const attempts = {
  // (a) A "simple" request (text/plain body): no preflight; the answer is opaque, but it is sent.
  submit_no_cors: fetch(api + "/api/runs", {
    method: "POST",
    mode: "no-cors",
    credentials: "include",
    headers: { "content-type": "text/plain" },
    body: JSON.stringify({ pipeline }),
  }).then(seen, failed),
  // (b) Pausing a device's queue needs no body at all.
  pause_no_cors: fetch(api + "/api/queues/device-servo-1/pause", {
    method: "POST",
    mode: "no-cors",
    credentials: "include",
  }).then(seen, failed),
  // (c) JSON in cors mode: the browser asks first (a preflight) and must not send it.
  submit_cors_json: fetch(api + "/api/runs", {
    method: "POST",
    mode: "cors",
    credentials: "include",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ pipeline }),
  }).then(async (response) => ({ ...seen(response), body: await response.text() }), failed),
  // (d) An auto-submitted form cancelling the victim's run.
  cancel_form: submitForm(),
  // (e) Cross-site WebSocket hijacking: every run's events, and the victim's run's with its replay.
  socket: openSocket(api.replace(/^http/, "ws") + "/ws"),
  socket_run: openSocket(api.replace(/^http/, "ws") + "/ws?run_id=" + encodeURIComponent(runId)),
};

Promise.all(Object.entries(attempts).map(([name, attempt]) => attempt.then((result) => [name, result]))).then(
  (settled) => {
    const results = document.getElementById("results");
    results.textContent = JSON.stringify(Object.fromEntries(settled), null, 2);
    results.setAttribute("data-done", "1");
  },
);
</script>
</body>
</html>
`;

interface SocketResult {
  opened: boolean;
  messages: string[];
  error: boolean;
  code: number | null;
  thrown?: string;
}

interface AttackResults {
  submit_no_cors: { type?: string; status?: number; error?: string };
  pause_no_cors: { type?: string; status?: number; error?: string };
  submit_cors_json: { type?: string; status?: number; body?: string; error?: string };
  cancel_form: { loaded: boolean };
  socket: SocketResult;
  socket_run: SocketResult;
}

/** What reached the API from a page, as the browser saw it come back. */
interface Answer {
  method: string;
  path: string;
  status: number;
  code: string | undefined;
  /** Whether the request carried the victim's session cookie. */
  cookie: boolean;
}

async function startAttackerSite(): Promise<{ origin: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    if ((req.url ?? "/").split("?")[0] !== "/") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end(attackerPage);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/**
 * Opens the attacker's page in a new tab of `context`, waits for every attempt to settle, and
 * returns what the page saw and what the API answered, as the browser's devtools saw it: the real
 * status behind an opaque answer, and the cookies each request really carried (Playwright's own
 * request headers leave them out for a no-cors fetch; the devtools protocol's extra info has them).
 */
async function runAttack(
  context: BrowserContext,
  attacker: { origin: string },
  apiPort: number,
  runId: string,
): Promise<{ results: AttackResults; answers: Answer[] }> {
  const page = await context.newPage();
  const devtools = await context.newCDPSession(page);
  await devtools.send("Network.enable");
  const requestLines = new Map<string, string>();
  const sentCookies = new Map<string, string>();
  devtools.on("Network.requestWillBeSent", ({ requestId, request: sent }) =>
    requestLines.set(requestId, `${sent.method} ${sent.url}`),
  );
  devtools.on("Network.requestWillBeSentExtraInfo", ({ requestId, headers }) => {
    const cookie = headers.Cookie ?? headers.cookie;
    if (typeof cookie === "string") sentCookies.set(requestId, cookie);
  });
  const carriedSession = (method: string, url: string) =>
    [...sentCookies].some(
      ([requestId, cookie]) =>
        requestLines.get(requestId) === `${method} ${url}` && /(^|;\s*)rigflow_session=/.test(cookie),
    );

  const answered: { response: Response; text: string }[] = [];
  const reading: Promise<void>[] = [];
  page.on("response", (response: Response) => {
    if (new URL(response.url()).port !== String(apiPort)) return;
    reading.push(
      response.text().then(
        (text) => void answered.push({ response, text }),
        // An opaque answer's body is not kept: its status is all there is.
        () => void answered.push({ response, text: "" }),
      ),
    );
  });
  const api = `http://127.0.0.1:${apiPort}`;
  await page.goto(`${attacker.origin}/?${new URLSearchParams({ api, run: runId }).toString()}`);
  await page.waitForSelector("#results[data-done]", { state: "attached", timeout: 20_000 });
  const results = JSON.parse((await page.locator("#results").textContent()) ?? "{}") as AttackResults;
  // The three requests that reach the server (a, b, d) were answered; (c) never left the browser
  // but for its preflight (which Playwright does not report).
  await expect
    .poll(() => answered.filter(({ response }) => response.request().method() === "POST").length, {
      timeout: 10_000,
    })
    .toBe(3);
  await Promise.all(reading);
  const answers = answered.map(({ response, text }) => ({
    method: response.request().method(),
    path: new URL(response.url()).pathname,
    status: response.status(),
    code: errorCode(text),
    cookie: carriedSession(response.request().method(), response.url()),
  }));
  await devtools.detach();
  return { results, answers };
}

function errorCode(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

/** What every attack must have left: the browser saw no success, and the server said no. */
function expectRefused({ results, answers }: Awaited<ReturnType<typeof runAttack>>, runId: string): void {
  // The no-cors fetches "succeed" with an opaque answer: the page cannot tell, the server can.
  expect(results.submit_no_cors).toEqual({ type: "opaque", status: 0 });
  expect(results.pause_no_cors).toEqual({ type: "opaque", status: 0 });
  // JSON in cors mode: the preflight is not answered with CORS headers, so the browser blocks it.
  expect(results.submit_cors_json.error).toMatch(/TypeError: Failed to fetch/);
  expect(results.cancel_form).toEqual({ loaded: true });
  for (const socket of [results.socket, results.socket_run]) {
    expect(socket.opened).toBe(false);
    expect(socket.messages).toEqual([]);
    expect(socket.code).toBe(1006); // closed without a handshake
  }

  // The server, not only the browser, refused each request that reached it: 403, read by the
  // browser's devtools behind the opaque answers. (An opaque answer's body is not kept, so the
  // code is read from the frame's answer here, and from the audit log for all of them.)
  const posts = answers
    .filter((answer) => answer.method === "POST")
    .map(({ path, status }) => ({ path, status }))
    .sort((a, b) => a.path.localeCompare(b.path));
  expect(posts).toEqual([
    { path: "/api/queues/device-servo-1/pause", status: 403 },
    { path: "/api/runs", status: 403 },
    { path: `/api/runs/${runId}/cancel`, status: 403 },
  ]);
  const cancel = answers.find((answer) => answer.method === "POST" && answer.path.endsWith("/cancel"));
  expect(cancel?.code).toBe("ORIGIN_FORBIDDEN");
  // (c) never reached the server: the audit log has one refused submission only, (a)'s
  // (expectAuditedRefusals).
}

async function auditEntries(base: string, headers: Record<string, string> = {}): Promise<AuditEntry[]> {
  const response = await fetch(`${base}/api/audit?limit=1000`, { headers });
  expect(response.status).toBe(200);
  return ((await response.json()) as { entries: AuditEntry[] }).entries;
}

/** The audit log's record of the attack: every attempt that reached the server, refused. */
function expectAuditedRefusals(entries: AuditEntry[], runId: string): void {
  const refused = entries
    .filter((entry) => entry.outcome === "ORIGIN_FORBIDDEN")
    .map(({ action, target, address }) => ({ action, target, address }))
    .sort((a, b) => `${a.action} ${a.target}`.localeCompare(`${b.action} ${b.target}`));
  expect(refused).toEqual([
    { action: "queue.pause", target: "device-servo-1", address: "127.0.0.1" },
    { action: "run.cancel", target: runId, address: "127.0.0.1" },
    { action: "run.submit", target: "", address: "127.0.0.1" },
    { action: "ws.open", target: "", address: "127.0.0.1" },
    { action: "ws.open", target: "", address: "127.0.0.1" },
  ]);
  // No change the attacker asked for went through: the one submission recorded "ok" is the
  // victim's own, made by the test.
  const done = entries.filter((entry) => entry.outcome === "ok").map((entry) => entry.action);
  expect(done.filter((action) => action !== "session.sign_in")).toEqual(["run.submit"]);
}

interface RunSummary {
  run_id: string;
  pipeline_id: string;
  status: string;
}

async function getJson<T>(base: string, path: string, headers: Record<string, string> = {}): Promise<T> {
  const response = await fetch(`${base}${path}`, { headers });
  expect(response.status, `GET ${path}`).toBe(200);
  return (await response.json()) as T;
}

/** Starts the victim's long move and waits until it is running on the device. */
async function startVictimRun(base: string, headers: Record<string, string> = {}): Promise<string> {
  const response = await fetch(`${base}/api/runs`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ pipeline: victimPipeline }),
  });
  expect(response.status).toBe(202);
  const { run_id: runId } = (await response.json()) as { run_id: string };
  await expect
    .poll(
      async () =>
        (await getJson<{ nodes: Record<string, { status: string }> }>(base, `/api/runs/${runId}`, headers))
          .nodes.sweep?.status,
      { timeout: 15_000 },
    )
    .toBe("running");
  return runId;
}

/** Nothing the attacker asked for happened: the same runs, the victim's not cancelled, no pause. */
async function expectNothingChanged(
  api: ApiHandle,
  base: string,
  runsBefore: RunSummary[],
  runId: string,
  headers: Record<string, string> = {},
): Promise<void> {
  const { runs } = await getJson<{ runs: RunSummary[] }>(base, "/api/runs", headers);
  expect(runs.map((run) => run.run_id)).toEqual(runsBefore.map((run) => run.run_id));
  expect(runs.some((run) => run.pipeline_id === attackerPipeline.id)).toBe(false);
  const run = await getJson<{ status: string }>(base, `/api/runs/${runId}`, headers);
  expect(["running", "completed"]).toContain(run.status);
  const { events } = await getJson<{ events: { type: string }[] }>(
    base,
    `/api/runs/${runId}/events`,
    headers,
  );
  expect(events.map((event) => event.type)).not.toContain("pipeline_cancelled");
  expect(await api.engine.queues.device("servo-1").isPaused()).toBe(false);
  const { queues } = await getJson<{ queues: { name: string; paused: boolean }[] }>(
    base,
    "/api/queues",
    headers,
  );
  expect(queues.find((queue) => queue.name === "device-servo-1")?.paused).toBe(false);
}

/** Cancels the victim's run from Node (no Origin: not a page) and waits for it to end. */
async function cancelAndWait(
  api: ApiHandle,
  base: string,
  runId: string,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${base}/api/runs/${runId}/cancel`, { method: "POST", headers });
  // 202 while it runs; 409 if it completed meanwhile, which is as good an end.
  expect([202, 409]).toContain(response.status);
  const ended = await api.engine.waitForRun(runId, 20_000);
  expect(["cancelled", "completed"]).toContain(ended.status);
}

// ---------------------------------------------------------------------------------------------

/**
 * Within a describe: a worker, an API with these access settings and the attacker's site, started
 * before its tests and stopped after them, by their handles.
 */
function useAttackRig(access: Partial<AccessSettings> = {}) {
  const rig = {} as {
    api: ApiHandle;
    worker: WorkerHandle;
    attacker: Awaited<ReturnType<typeof startAttackerSite>>;
    base: string;
  };
  beforeAll(async () => {
    const prefix = newPrefix();
    rig.worker = await startTestWorker(prefix, devices);
    rig.api = await startTestServer(prefix, devices, { access });
    rig.base = `http://127.0.0.1:${rig.api.port}`;
    rig.attacker = await startAttackerSite();
  }, 60_000);
  afterAll(async () => {
    await rig.attacker?.close();
    await rig.api?.close();
    await rig.worker?.close();
  }, 60_000);
  return rig;
}

describe("with no token configured (out of the box)", () => {
  const rig = useAttackRig();

  it("an attacker page in another tab changes nothing: every attempt is refused 403 ORIGIN_FORBIDDEN", async () => {
    const runId = await startVictimRun(rig.base);
    const { runs: runsBefore } = await getJson<{ runs: RunSummary[] }>(rig.base, "/api/runs");
    expect(runsBefore.map((run) => run.run_id)).toEqual([runId]);

    const context = await browser.newContext();
    try {
      // The victim has the dashboard open in one tab (with no token it needs no sign-in)...
      const dashboard = await context.newPage();
      await dashboard.goto(`${rig.base}/runs/${runId}`);
      await dashboard.locator("#run-status[data-status]").waitFor({ timeout: 15_000 });
      // ...and the attacker's page in another.
      const attack = await runAttack(context, rig.attacker, rig.api.port, runId);
      expectRefused(attack, runId);
      const { answers } = attack;
      // No cookie here: the server has no token, so the Origin is all that stops the page.
      expect(answers.some((answer) => answer.cookie)).toBe(false);

      await expectNothingChanged(rig.api, rig.base, runsBefore, runId);
      // From the test (no Origin: not a browser's page), in no-token mode an operator.
      expectAuditedRefusals(await auditEntries(rig.base), runId);
      // The victim's own tab was not disturbed.
      expect(await dashboard.locator("#run-status").getAttribute("data-status")).not.toBe("cancelled");
    } finally {
      await context.close();
    }
    await cancelAndWait(rig.api, rig.base, runId);
  }, 60_000);

  it("a DNS-rebound page (a forged Host) is refused 403 HOST_FORBIDDEN; localhost is answered", async () => {
    const forged = { host: `attacker.example:${rig.api.port}` };
    const own = { host: `localhost:${rig.api.port}` };
    const submit = JSON.stringify({ pipeline: doc("rebound", [home("h", "servo-1")]) });
    const json = { "content-type": "application/json" };
    const runsBefore = (await getJson<{ runs: RunSummary[] }>(rig.base, "/api/runs")).runs.length;

    for (const [method, path, headers, body] of [
      ["GET", "/api/runs", { accept: "application/json" }, undefined],
      ["POST", "/api/runs", json, submit],
      ["GET", "/", { accept: "text/html" }, undefined],
      ["GET", "/metrics", {}, undefined],
    ] as const) {
      const refused = await rawRequest(rig.api.port, method, path, { ...headers, ...forged }, body);
      expect({ method, path, status: refused.status, code: refused.code }).toEqual({
        method,
        path,
        status: 403,
        code: "HOST_FORBIDDEN",
      });
    }
    expect(await tryUpgrade(rig.api.port, forged)).toEqual({ status: 403, code: "HOST_FORBIDDEN" });
    // Nothing was created by the forged POST.
    expect((await getJson<{ runs: RunSummary[] }>(rig.base, "/api/runs")).runs).toHaveLength(runsBefore);

    // The same requests naming a loopback host are answered.
    expect((await rawRequest(rig.api.port, "GET", "/api/runs", own)).status).toBe(200);
    const submitted = await rawRequest(rig.api.port, "POST", "/api/runs", { ...json, ...own }, submit);
    expect(submitted.status).toBe(202);
    const page = await rawRequest(rig.api.port, "GET", "/", { accept: "text/html", ...own });
    expect(page.status).toBe(200);
    expect(page.text).toContain("<!doctype html>");
    expect((await rawRequest(rig.api.port, "GET", "/metrics", own)).status).toBe(200);
    expect(await tryUpgrade(rig.api.port, own)).toEqual({ status: 101 });
    const { run_id: reboundRun } = JSON.parse(submitted.text) as { run_id: string };
    expect((await rig.api.engine.waitForRun(reboundRun, 20_000)).status).toBe("completed");

    // The refusals are in the audit log (a rebinding page's reads included).
    const refused = (await auditEntries(rig.base)).filter((entry) => entry.outcome === "HOST_FORBIDDEN");
    expect(refused.map((entry) => entry.action).sort()).toEqual(
      ["read", "read", "read", "run.submit", "ws.open"].sort(),
    );
  }, 60_000);
});

describe("with a token configured, the victim signed in", () => {
  const token = "attacker-test-operator-token";
  const bearer = { authorization: `Bearer ${token}` };
  const rig = useAttackRig({ apiToken: token });

  it("the same attack, carrying the victim's session cookie, changes nothing and is refused", async () => {
    const runId = await startVictimRun(rig.base, bearer);
    const { runs: runsBefore } = await getJson<{ runs: RunSummary[] }>(rig.base, "/api/runs", bearer);
    expect(runsBefore.map((run) => run.run_id)).toEqual([runId]);

    const context = await browser.newContext();
    try {
      const dashboard = await context.newPage();
      await dashboard.goto(`${rig.base}/?token=${token}`);
      expect(new URL(dashboard.url()).search).toBe("");
      await expect.poll(() => dashboard.locator("#whoami").textContent()).toContain("operator");
      expect((await context.cookies(rig.base)).map((cookie) => cookie.name)).toContain("rigflow_session");

      const attack = await runAttack(context, rig.attacker, rig.api.port, runId);
      expectRefused(attack, runId);
      const { answers } = attack;
      // The attacker's page is on 127.0.0.1 too, another port: the same site, so the browser sent
      // the victim's SameSite=Lax cookie with every request. Only the Origin check stopped them.
      const posts = answers.filter((answer) => answer.method === "POST");
      expect(posts.every((answer) => answer.cookie)).toBe(true);

      await expectNothingChanged(rig.api, rig.base, runsBefore, runId, bearer);
      expectAuditedRefusals(await auditEntries(rig.base, bearer), runId);
    } finally {
      await context.close();
    }
    await cancelAndWait(rig.api, rig.base, runId, bearer);
  }, 60_000);
});

describe("a viewer in the browser", () => {
  const operatorToken = "attacker-test-operator-token";
  const readToken = "attacker-test-read-token";
  const operator = { authorization: `Bearer ${operatorToken}` };
  const shown = doc(
    "shown_pipeline",
    [home("h", "servo-1"), move("m", "servo-1", 10)],
    [{ source: "h", target: "m" }],
  );
  let api: ApiHandle;
  let worker: WorkerHandle;
  let base: string;
  let runId: string;

  beforeAll(async () => {
    const prefix = newPrefix();
    worker = await startTestWorker(prefix, devices);
    api = await startTestServer(prefix, devices, { access: { apiToken: operatorToken, readToken } });
    base = `http://127.0.0.1:${api.port}`;
    // Something to show: a saved pipeline and a run of it, made by the operator.
    const saved = await fetch(`${base}/api/pipelines/save`, {
      method: "POST",
      headers: { ...operator, "content-type": "application/json" },
      body: JSON.stringify(shown),
    });
    expect(saved.status).toBe(201);
    const submitted = await fetch(`${base}/api/runs`, {
      method: "POST",
      headers: { ...operator, "content-type": "application/json" },
      body: JSON.stringify({ pipeline_id: shown.id }),
    });
    expect(submitted.status).toBe(202);
    runId = ((await submitted.json()) as { run_id: string }).run_id;
    expect((await api.engine.waitForRun(runId, 20_000)).status).toBe("completed");
  }, 60_000);

  afterAll(async () => {
    await api?.close();
    await worker?.close();
  }, 60_000);

  /**
   * The change controls on the pipelines list, a pipeline's page and the run's page, and the
   * words of every button on those pages and on the runs and devices pages. Each page is read once
   * drawn (the element its data fills in is there); an operator's editor on the list comes after
   * a further call, so it is waited for.
   */
  async function controlsOn(page: Page, role: "operator" | "viewer") {
    const buttons: string[] = [];
    const readButtons = async () => buttons.push(...(await page.locator("main button").allTextContents()));
    await page.goto(`${base}/pipelines`);
    await page.locator(`tr[data-pipeline-id="${shown.id}"]`).waitFor({ timeout: 15_000 });
    if (role === "operator") await page.locator("#save-pipeline").waitFor({ timeout: 15_000 });
    const list = {
      startRun: await page.locator(".start-run, #start-run").count(),
      save: await page.locator("#save-pipeline").count(),
    };
    await readButtons();
    await page.goto(`${base}/pipelines/${shown.id}`);
    await page.locator("#dag g.dag-node").first().waitFor({ timeout: 15_000 });
    const pipeline = {
      startRun: await page.locator(".start-run, #start-run").count(),
      save: await page.locator("#save-pipeline").count(),
    };
    await readButtons();
    await page.goto(`${base}/runs/${runId}`);
    await page.locator('#run-status[data-status="completed"]').waitFor({ timeout: 15_000 });
    const run = {
      retry: await page.locator("#retry").count(),
      cancel: await page.locator("#cancel").count(),
    };
    await readButtons();
    await page.goto(`${base}/runs`);
    await page.locator(`#runs tbody tr[data-run-id="${runId}"]`).waitFor({ timeout: 15_000 });
    await readButtons();
    await page.goto(`${base}/devices`);
    await page.locator('tr[data-device-id="servo-1"]').waitFor({ timeout: 15_000 });
    await readButtons();
    return { list, pipeline, run, buttons };
  }

  it("sees no control that changes anything, and the server refuses a change 403 FORBIDDEN", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${base}/?token=${readToken}`);
      expect(new URL(page.url()).search).toBe("");
      await expect.poll(() => page.locator("#whoami").textContent()).toContain("viewer");
      expect(await page.locator("#whoami").getAttribute("data-role")).toBe("viewer");
      expect(await page.locator("#sign-out").isVisible()).toBe(true);
      expect(await page.locator('a[data-nav="audit"], a[href="/audit"]').count()).toBe(0);

      const controls = await controlsOn(page, "viewer");
      expect(controls).toMatchObject({
        list: { startRun: 0, save: 0 },
        pipeline: { startRun: 0, save: 0 },
        run: { retry: 0, cancel: 0 },
      });
      // No button anywhere that would change something (filters and paging only).
      expect(
        controls.buttons.filter((text) =>
          /start|save|retry|cancel|pause|resume|recover|approve|reject|delete|remove|clean/i.test(text),
        ),
      ).toEqual([]);
      expect(await page.locator("#pipeline-document").count()).toBe(0);
      // The header is the same on every page.
      expect(await page.locator("#whoami").textContent()).toContain("viewer");
      expect(await page.locator('a[data-nav="audit"]').count()).toBe(0);

      // A change sent anyway, from the dashboard's own origin on the session cookie: refused.
      const attempts = await page.evaluate(async (id) => {
        const post = async (path: string, body?: unknown) => {
          const response = await fetch(path, {
            method: "POST",
            ...(body === undefined
              ? {}
              : { headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
          });
          return { status: response.status, body: (await response.json()) as { error?: { code?: string } } };
        };
        return [
          await post(`/api/runs/${id}/retry`),
          await post("/api/runs", { pipeline_id: "shown_pipeline" }),
          await post("/api/queues/device-servo-1/pause"),
        ].map((answer) => ({ status: answer.status, code: answer.body.error?.code }));
      }, runId);
      expect(attempts).toEqual([
        { status: 403, code: "FORBIDDEN" },
        { status: 403, code: "FORBIDDEN" },
        { status: 403, code: "FORBIDDEN" },
      ]);
      // The audit log is for operators: the page says so rather than showing it.
      await page.goto(`${base}/audit`);
      await expect
        .poll(() => page.locator(".error[data-error-code]").getAttribute("data-error-code"), {
          timeout: 15_000,
        })
        .toBe("FORBIDDEN");
      expect(await page.locator("#audit-log tbody tr").count()).toBe(0);
    } finally {
      await context.close();
    }
    // Nothing changed.
    const { runs } = await getJson<{ runs: RunSummary[] }>(base, "/api/runs", operator);
    expect(runs.map((run) => run.run_id)).toEqual([runId]);
    expect(await api.engine.queues.device("servo-1").isPaused()).toBe(false);
  }, 60_000);

  it("an operator sees the controls and the audit log; signing out revokes the session", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${base}/?token=${operatorToken}`);
      await expect.poll(() => page.locator("#whoami").textContent()).toContain("operator");
      const controls = await controlsOn(page, "operator");
      expect(controls.list.startRun).toBeGreaterThan(0);
      expect(controls.list.save).toBe(1);
      expect(controls.pipeline).toEqual({ startRun: 1, save: 1 });
      expect(controls.run).toEqual({ retry: 1, cancel: 1 });

      await page.click('a[data-nav="audit"]');
      await page.waitForURL(`${base}/audit`);
      const log = page.locator("#audit-log");
      await log
        .locator('tr[data-action="session.sign_in"][data-outcome="ok"]')
        .first()
        .waitFor({ timeout: 15_000 });
      // The viewer's refused changes are there, with their outcome.
      expect(await log.locator('tr[data-action="run.retry"][data-outcome="FORBIDDEN"]').count()).toBe(1);
      expect(await log.locator('tr[data-action="run.submit"][data-outcome="ok"]').count()).toBe(1);

      const [session] = (await context.cookies(base)).filter((cookie) => cookie.name === "rigflow_session");
      expect(session?.httpOnly).toBe(true);
      expect(session?.sameSite).toBe("Lax");
      await page.click("#sign-out button");
      // /logout redirects to /, which asks to sign in again.
      await page.locator('input[name="token"]').waitFor({ timeout: 15_000 });
      expect(new URL(page.url()).pathname).toBe("/");
      const reloaded = await page.reload();
      expect(reloaded?.status()).toBe(401);
      expect(await page.locator('input[name="token"]').count()).toBe(1);
      // Revoked on the server, not only dropped by the browser: the old cookie opens nothing.
      const replayed = await fetch(`${base}/api/me`, {
        headers: { cookie: `rigflow_session=${session?.value ?? ""}` },
      });
      expect(replayed.status).toBe(401);
      const entries = await auditEntries(base, operator);
      expect(entries.some((entry) => entry.action === "session.sign_out" && entry.outcome === "ok")).toBe(
        true,
      );
    } finally {
      await context.close();
    }
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
