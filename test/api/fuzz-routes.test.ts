// Property-based fuzzing of every HTTP route (issue 15, "Fuzzing"): generated requests, from valid
// to hostile, against a real API process (`src/bin/api.ts`) and a worker on one Redis. Each case
// checks the contract's promises: no 5xx but a documented 503, every error in the one shape with
// its status, the process alive and answering /healthz, and every run it touched readable; at the
// end every stored run and pipeline reads back. A fixed number of cases, seeded by FUZZ_SEED (or a
// fresh seed, printed).
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { startApiProcess, type ApiProcess } from "../support/api-process.js";
import { newPrefix, redisUrl, servo, startTestWorker } from "../support/context.js";
import {
  anyBody,
  bodyOf,
  cleanBodyValue,
  controlBodyValue,
  documentValue,
  executeBodyValue,
  fuzzBudget,
  bullBoardJobPath,
  nodeSegment,
  pathOf,
  pipelineSegment,
  queryOf,
  queueJobPath,
  queueName,
  route,
  runBodyValue,
  runSegment,
  segment,
  type FuzzRequest,
  type Pools,
} from "../support/fuzz-arbitraries.js";
import {
  answerProblems,
  errorShapeProblem,
  fuzzAgent,
  runBodyProblem,
  sendFuzz,
  type FuzzAnswer,
} from "../support/fuzz-http.js";
import { doc, home, move } from "../support/pipelines.js";
import { writeDevicesFile } from "../support/worker-process.js";

/** 80 cases per property: with the processes' start, 13 s in a CI run. */
const { seed, casesPerProperty, propertyTimeoutMs } = fuzzBudget("test/api/fuzz-routes.test.ts", 80);

const devices = [servo("servo-1"), servo("servo-2")];
const operatorToken = "fuzz-operator-token-0123456789";
const viewerToken = "fuzz-viewer-token-0123456789";
const started: ApiProcess[] = [];
let api: ApiProcess;
let guarded: ApiProcess;
let worker: WorkerHandle | undefined;
const pools: Pools = { runs: [], pipelines: [], events: [], jobs: [] };

const portOf = (server: ApiProcess) => Number(new URL(server.url).port);

beforeAll(async () => {
  const prefix = newPrefix();
  const env = {
    REDIS_URL: redisUrl(),
    RIGFLOW_PREFIX: prefix,
    DEVICES_FILE: writeDevicesFile(devices),
    // The fuzz makes hundreds of changes a minute from one address: the change rate limit has its
    // own tests (test/api/access.test.ts), here it would only hide the routes behind 429s.
    RATE_LIMIT_PER_MIN: "1000000",
    MAX_STREAMS_PER_CLIENT: "1000",
    // Small, so that bodies over it are cheap to send.
    MAX_BODY_BYTES: "65536",
  };
  [api, guarded] = await Promise.all([
    startApiProcess(env, started),
    startApiProcess(
      {
        ...env,
        RIGFLOW_PREFIX: newPrefix(),
        API_TOKEN: operatorToken,
        API_READ_TOKEN: viewerToken,
        // X-Forwarded-For from this machine is believed: each case comes from addresses of its own,
        // so the throttle on failed tokens does not lock the whole fuzz out.
        TRUST_PROXY: "1",
        RATE_LIMIT_PER_MIN: "1000000",
      },
      started,
    ),
  ]);
  worker = await startTestWorker(prefix, devices, { shutdownGraceMs: 500 });
  // Something to aim at from the start: a saved pipeline, a run that completes, one that fails
  // (a move out of range) and one still running (a slow move).
  const port = portOf(api);
  const post = (path: string, body: unknown) =>
    sendFuzz(
      port,
      {
        method: "POST",
        path,
        query: "",
        headers: { "content-type": "application/json" },
        body: { json: body, damage: { kind: "none" } },
      },
      pools,
    );
  const saved = await post(
    "/api/pipelines/save",
    doc("fz_p0", [home("n0", "servo-1"), move("n1", "servo-1", 90)]),
  );
  expect(saved.status).toBe(201);
  pools.pipelines.push("fz_p0");
  for (const pipeline of [
    doc("fz_done", [home("n0", "servo-1"), move("n1", "servo-2", 20)], [{ source: "n0", target: "n1" }]),
    doc("fz_fail", [move("n0", "servo-2", 500)]),
    doc("fz_slow", [{ ...move("n0", "servo-2", 180), params: { position: 180, speed: 5 } }]),
  ]) {
    const answer = await post("/api/runs", { pipeline });
    expect(answer.status, answer.text).toBe(202);
    pools.runs.push({ runId: (JSON.parse(answer.text) as { run_id: string }).run_id, nodeIds: ["n0", "n1"] });
  }
}, 60_000);

afterAll(async () => {
  await worker?.close();
  for (const server of started) await server.stop();
  fuzzAgent.destroy();
});

// ---------------------------------------------------------------------------------------------
// The routes, by group

/** A route's arbitrary with a weight: the ones that make state come more often. */
const weighted = (weight: number, arbitrary: fc.Arbitrary<FuzzRequest>) => ({ arbitrary, weight });

const pipelineRequests = fc.oneof(
  weighted(
    3,
    route({ method: "POST", path: fc.constant("/api/pipelines/save"), body: bodyOf(documentValue) }),
  ),
  route({
    method: "POST",
    path: fc.constant("/api/pipelines/execute"),
    // A valid document runs to its end or to timeout_s: kept short, or the case waits a minute.
    query: fc.oneof(
      { arbitrary: fc.constantFrom("timeout_s=0", "timeout_s=0.05", "timeout_s=0.25"), weight: 4 },
      { arbitrary: queryOf("timeout_s").map((query) => `timeout_s=0&${query}`), weight: 1 },
      {
        arbitrary: fc.constantFrom("timeout_s=-1", "timeout_s=x", "timeout_s=3601", "timeout_s=NaN"),
        weight: 1,
      },
    ),
    body: bodyOf(executeBodyValue),
  }),
  route({ method: "GET", path: fc.constant("/api/pipelines"), query: queryOf("limit", "cursor") }),
  route({ method: "GET", path: pathOf("/api/pipelines/", pipelineSegment) }),
  route({ method: "DELETE", path: pathOf("/api/pipelines/", pipelineSegment) }),
);

const runRequests = fc.oneof(
  weighted(
    4,
    route({
      method: "POST",
      path: fc.constant("/api/runs"),
      body: bodyOf(runBodyValue),
      headers: fc.oneof(
        fc.constant({}),
        fc.constantFrom("k1", "k2", "", "x".repeat(300)).map((key) => ({ "idempotency-key": key })),
      ),
    }),
  ),
  route({
    method: "GET",
    path: fc.constant("/api/runs"),
    query: queryOf("status", "pipeline_id", "limit", "cursor"),
  }),
  route({ method: "GET", path: pathOf("/api/runs/", runSegment) }),
  weighted(
    2,
    route({
      method: "POST",
      path: pathOf("/api/runs/", runSegment, fc.constantFrom("/cancel", "/retry", "/pause", "/resume")),
      body: bodyOf(controlBodyValue),
    }),
  ),
  route({
    method: "POST",
    path: pathOf(
      "/api/runs/",
      runSegment,
      "/nodes/",
      nodeSegment,
      fc.constantFrom("/recover", "/approve", "/reject"),
    ),
    body: bodyOf(controlBodyValue),
  }),
  route({
    method: "GET",
    path: pathOf("/api/runs/", runSegment, "/events"),
    query: queryOf("after", "limit"),
    headers: fc.constantFrom<Record<string, string>>(
      {},
      { accept: "text/event-stream" },
      { accept: "text/event-stream, */*" },
    ),
  }),
  route({
    method: "GET",
    path: pathOf("/api/runs/", runSegment, "/events/stream"),
    query: queryOf("after"),
    headers: fc.oneof(
      fc.constant({}),
      fc
        .constantFrom("0-0", "$event:0", "yesterday", "99999999999999999999-0", "1-1")
        .map((id) => ({ "last-event-id": id })),
    ),
  }),
  route({ method: "GET", path: pathOf("/dashboard/api/runs/", runSegment, "/graph") }),
  route({ method: "GET", path: pathOf("/runs/", runSegment) }),
);

const queueRequests = fc.oneof(
  route({ method: "GET", path: fc.constant("/api/queues") }),
  route({ method: "GET", path: pathOf("/api/queues/", queueName) }),
  route({
    method: "GET",
    path: pathOf("/api/queues/", queueName, "/jobs"),
    query: fc.oneof(
      queryOf("state", "start", "end"),
      fc
        .tuple(
          fc.constantFrom("completed", "failed", "waiting", "delayed", "active", "paused"),
          queryOf("start", "end"),
        )
        .map(([state, rest]) => (rest ? `state=${state}&${rest}` : `state=${state}`)),
    ),
  }),
  route({ method: "GET", path: pathOf("/api/queues/", queueJobPath) }),
  weighted(
    2,
    route({
      method: "POST",
      path: pathOf("/api/queues/", queueJobPath, fc.constantFrom("/retry", "/remove", "/promote")),
      body: anyBody,
    }),
  ),
  // Resume more often than pause: a paused device queue would leave every later run queued.
  route({
    method: "POST",
    path: pathOf("/api/queues/", queueName, fc.constantFrom("/resume", "/resume", "/resume", "/pause")),
    body: anyBody,
  }),
  route({ method: "POST", path: pathOf("/api/queues/", queueName, "/clean"), body: bodyOf(cleanBodyValue) }),
  // Bull-board, read-only: its pages and its own API.
  route({
    method: "GET",
    path: fc.constantFrom("/admin/queues", "/admin/queues/", "/admin/queues/queue/runs"),
  }),
  route({
    method: "GET",
    path: fc.constant("/admin/queues/api/queues"),
    query: queryOf("activeQueue", "status", "page", "jobsPerPage"),
  }),
  route({
    method: "GET",
    path: pathOf("/admin/queues/api/queues/", bullBoardJobPath, fc.constantFrom("", "/logs", "/flow")),
  }),
  route({
    method: fc.constantFrom("PUT", "PATCH", "POST"),
    path: pathOf(
      "/admin/queues/api/queues/",
      queueName,
      fc.constantFrom(
        "/pause",
        "/resume",
        "/empty",
        "/obliterate",
        "/clean/failed",
        "/retry/failed",
        "/promote",
      ),
    ),
    body: anyBody,
  }),
  route({
    method: fc.constantFrom("PUT", "PATCH", "POST"),
    path: pathOf(
      "/admin/queues/api/queues/",
      bullBoardJobPath,
      fc.constantFrom("/retry", "/clean", "/promote", "/update-data", ""),
    ),
    body: anyBody,
  }),
);

/** Every path the API knows (and some it does not), for any method. */
const anyPath = fc.oneof(
  fc.constantFrom(
    "/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/api",
    "/api/",
    "/api/runs",
    "/api/pipelines",
    "/api/pipelines/save",
    "/api/pipelines/execute",
    "/api/devices",
    "/api/functions",
    "/api/queues",
    "/api/me",
    "/api/audit",
    "/login",
    "/logout",
    "/runs",
    "/devices",
    "/pipelines",
    "/audit",
    "/ws",
    "/admin/queues",
    "/api/nothing-here",
    "/api//runs",
    "/api/runs/",
    "//api/runs",
    "/API/RUNS",
    "/api/runs/../pipelines",
    "/api/%72uns",
  ),
  pathOf("/api/runs/", runSegment),
  pathOf("/api/pipelines/", pipelineSegment),
  pathOf("/api/queues/", queueJobPath),
  pathOf("/dashboard/", segment("pipeline")),
  pathOf("/api/", segment("run"), "/", segment("node")),
);

const otherRequests = fc.oneof(
  route({
    method: "GET",
    path: fc.constantFrom("/healthz", "/readyz", "/metrics", "/api/devices", "/api/functions", "/api/me"),
    query: queryOf("x"),
  }),
  route({ method: "GET", path: fc.constant("/api/audit"), query: queryOf("after", "limit") }),
  route({
    method: "GET",
    path: fc.oneof(
      fc.constantFrom("/", "/runs", "/devices", "/pipelines", "/audit", "/login", "/logout"),
      pathOf("/pipelines/", pipelineSegment),
      pathOf(
        "/dashboard/",
        fc.constantFrom(
          "app.js",
          "index.html",
          "vendor/dagre.js",
          "style.css",
          "..%2Fpackage.json",
          "nope.js",
        ),
      ),
    ),
    headers: fc.constantFrom<Record<string, string>>(
      {},
      { "if-none-match": '"x"' },
      { "if-none-match": "*" },
    ),
  }),
  route({
    method: "POST",
    path: fc.constantFrom("/login", "/logout"),
    body: fc.oneof(
      fc.record({
        text: fc.constantFrom("token=x&next=/runs", "next=//evil.example", "token=", "%zz=%zz", ""),
      }),
      anyBody,
    ),
    headers: fc.constantFrom<Record<string, string>>(
      { "content-type": "application/x-www-form-urlencoded" },
      { "content-type": "multipart/form-data; boundary=x" },
      { "content-type": "application/json" },
      {},
    ),
  }),
  route({
    method: fc.constantFrom("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"),
    path: anyPath,
    query: queryOf("limit", "token"),
    body: anyBody,
  }),
);

// ---------------------------------------------------------------------------------------------
// Running a case

const runIdPattern = /run_[0-9a-f]{20}/g;

/** Learns the ids an answer shows, so that later requests can aim at them. */
function learn(request: FuzzRequest, answer: FuzzAnswer): void {
  if (answer.status < 200 || answer.status >= 300 || answer.streamed || answer.text === "") return;
  let body: unknown;
  try {
    body = JSON.parse(answer.text);
  } catch {
    return;
  }
  if (body === null || typeof body !== "object") return;
  const value = body as Record<string, unknown>;
  if (typeof value.run_id === "string" && !pools.runs.some((run) => run.runId === value.run_id)) {
    const nodeIds =
      value.nodes !== null && typeof value.nodes === "object" ? Object.keys(value.nodes) : ["n0", "n1", "n2"];
    pools.runs.push({ runId: value.run_id, nodeIds });
  }
  if (request.path === "/api/pipelines/save") {
    const id = (value.pipeline as { id?: unknown } | undefined)?.id;
    if (typeof id === "string" && !pools.pipelines.includes(id)) pools.pipelines.push(id);
  }
  if (Array.isArray(value.jobs)) {
    for (const job of value.jobs as { job_id?: unknown; queue?: unknown }[]) {
      const { job_id: jobId, queue } = job;
      if (typeof jobId !== "string" || typeof queue !== "string") continue;
      if (!pools.jobs.some((seen) => seen.jobId === jobId)) pools.jobs.push({ queue, jobId });
    }
    pools.jobs.splice(0, Math.max(0, pools.jobs.length - 200));
  }
  if (Array.isArray(value.events)) {
    for (const event of value.events as { event_id?: unknown }[]) {
      if (typeof event.event_id === "string") pools.events.push(event.event_id);
    }
    pools.events.splice(0, Math.max(0, pools.events.length - 100));
  }
}

async function getJson(server: ApiProcess, path: string): Promise<{ status: number; body: unknown }> {
  const answer = await sendFuzz(portOf(server), { method: "GET", path, query: "", headers: {} }, pools);
  return {
    status: answer.status,
    body: answer.text === "" ? undefined : (JSON.parse(answer.text) as unknown),
  };
}

/** The process is up and answers its health check. */
async function expectAlive(server: ApiProcess): Promise<void> {
  expect(server.alive(), `the API process died:\n${server.log().slice(-3000)}`).toBe(true);
  const health = await getJson(server, "/healthz");
  expect(health).toEqual({ status: 200, body: { status: "ok" } });
}

/** Each run this case named (in a path or a body) still reads back whole. */
async function expectRunsReadBack(runIds: Iterable<string>): Promise<void> {
  for (const runId of runIds) {
    const { status, body } = await getJson(api, `/api/runs/${runId}`);
    expect(status, `GET /api/runs/${runId}`).toBe(200);
    expect(runBodyProblem(body, runId), `GET /api/runs/${runId}: ${JSON.stringify(body)}`).toBeNull();
  }
}

/** With FUZZ_STATS=1, how the answers were spread over routes, statuses and codes (printed at the end). */
const stats = new Map<string, number>();
const literalSegments = new Set(
  "api runs pipelines save execute queues jobs events stream cancel retry pause resume nodes recover approve reject clean remove promote devices functions me audit dashboard graph admin healthz readyz metrics login logout".split(
    " ",
  ),
);
function tally(request: FuzzRequest, answer: FuzzAnswer): void {
  if (!process.env.FUZZ_STATS) return;
  const route = request.path
    .split("?")[0]
    ?.split("/")
    .map((part) => (part === "" || literalSegments.has(part) ? part : "*"))
    .join("/");
  const code = /"code":"([A-Z_]+)"/.exec(answer.text)?.[1] ?? "";
  const message =
    process.env.FUZZ_STATS === "messages" ? /"message":"([^"]{0,70})/.exec(answer.text)?.[1] : "";
  const key = `${request.method} ${route} ${answer.status} ${code} ${message ?? ""}`;
  stats.set(key, (stats.get(key) ?? 0) + 1);
}
afterAll(() => {
  if (!process.env.FUZZ_STATS) return;
  const lines = [...stats].sort(([a], [b]) => a.localeCompare(b)).map(([key, count]) => `${count}\t${key}`);
  console.log(`answers by route, status and code:\n${lines.join("\n")}`);
});

/**
 * Sends a batch of requests, one after another or all at once (races: two saves of one pipeline,
 * the same Idempotency-Key twice, a cancel and a retry of one run), and checks each answer, then
 * the process and the runs the batch touched.
 */
async function runBatch(server: ApiProcess, requests: FuzzRequest[], concurrent: boolean): Promise<void> {
  const answers: FuzzAnswer[] = [];
  if (concurrent) {
    const settled = await Promise.allSettled(
      requests.map((request) => sendFuzz(portOf(server), request, pools)),
    );
    for (const result of settled) {
      if (result.status === "rejected") throw result.reason;
      answers.push(result.value);
    }
  } else {
    for (const request of requests) answers.push(await sendFuzz(portOf(server), request, pools));
  }
  const touched = new Set<string>();
  for (const [index, answer] of answers.entries()) {
    const request = requests[index] as FuzzRequest;
    tally(request, answer);
    expect(answerProblems(answer, answer.sent.split(" ")[1] ?? ""), answer.sent).toEqual([]);
    if (server === api) {
      learn(request, answer);
      for (const runId of answer.sent.match(runIdPattern) ?? []) {
        if (pools.runs.some((run) => run.runId === runId)) touched.add(runId);
      }
    }
  }
  await expectAlive(server);
  await expectRunsReadBack(touched);
}

const property = (requests: fc.Arbitrary<FuzzRequest>, server: () => ApiProcess, maxBatch = 4) =>
  fc.assert(
    fc.asyncProperty(
      fc.array(requests, { minLength: 1, maxLength: maxBatch }),
      fc.boolean(),
      (batch, concurrent) => runBatch(server(), batch, concurrent),
    ),
    { seed, numRuns: casesPerProperty },
  );

describe(`fuzzing every HTTP route (seed ${seed})`, () => {
  it(
    "pipelines: save, list, get, delete, execute",
    async () => {
      await property(pipelineRequests, () => api);
    },
    propertyTimeoutMs,
  );

  it(
    "runs: submit, list, get, cancel, retry, operator actions, events (JSON and SSE), graph",
    async () => {
      await property(runRequests, () => api);
    },
    propertyTimeoutMs,
  );

  it(
    "queues: inspection and actions, and Bull-board",
    async () => {
      await property(queueRequests, () => api);
    },
    propertyTimeoutMs,
  );

  it(
    "health, metrics, devices, functions, me, audit, the dashboard, sign-in, and any method on any path",
    async () => {
      await property(otherRequests, () => api);
    },
    propertyTimeoutMs,
  );

  it(
    "all groups at once: any route next to any other, in order or racing",
    async () => {
      await property(fc.oneof(pipelineRequests, runRequests, queueRequests, otherRequests), () => api, 6);
    },
    propertyTimeoutMs,
  );

  it(
    "with tokens configured: every route under any credential, Origin, Host and forwarded address",
    async () => {
      const credential = fc.oneof(
        { arbitrary: fc.constant({ authorization: `Bearer ${operatorToken}` }), weight: 4 },
        { arbitrary: fc.constant({ authorization: `Bearer ${viewerToken}` }), weight: 3 },
        {
          arbitrary: fc.constantFrom<Record<string, string>>(
            {},
            { authorization: "Bearer wrong" },
            { authorization: `bearer   ${operatorToken}  ` },
            { authorization: `Basic ${operatorToken}` },
            { cookie: "rigflow_session=forged" },
            { origin: "http://evil.example", authorization: `Bearer ${operatorToken}` },
            { host: "evil.example", authorization: `Bearer ${operatorToken}` },
          ),
          weight: 3,
        },
      );
      const address = fc
        .tuple(fc.nat({ max: 255 }), fc.nat({ max: 255 }), fc.nat({ max: 255 }))
        .map(([a, b, c]) => ({ "x-forwarded-for": `10.${a}.${b}.${c}` }));
      const anyRoute = fc.oneof(pipelineRequests, runRequests, queueRequests, otherRequests);
      const request = fc.tuple(anyRoute, credential, address).map(([request, auth, from]): FuzzRequest => ({
        ...request,
        headers: { ...request.headers, ...auth, ...from },
      }));
      await fc.assert(
        fc.asyncProperty(fc.array(request, { minLength: 1, maxLength: 3 }), async (batch) => {
          for (const request of batch) {
            const answer = await sendFuzz(portOf(guarded), request, pools);
            tally({ ...request, path: `(tokens) ${request.path}` }, answer);
            const path = answer.sent.split(" ")[1] ?? "";
            expect(answerProblems(answer, path), answer.sent).toEqual([]);
            // A viewer changes nothing, whatever route it aims at.
            const viewer = request.headers.authorization === `Bearer ${viewerToken}`;
            const change = !["GET", "HEAD", "OPTIONS"].includes(request.method);
            if (viewer && change && path.startsWith("/api/")) {
              expect(answer.status, `a viewer's change: ${answer.sent}`).toBeGreaterThanOrEqual(400);
            }
            // No credential, no API.
            if (request.headers.authorization === undefined && path.startsWith("/api/")) {
              expect(answer.status, answer.sent).toBeGreaterThanOrEqual(400);
            }
          }
          await expectAlive(guarded);
        }),
        { seed, numRuns: casesPerProperty },
      );
    },
    propertyTimeoutMs,
  );

  it(
    "leaves a readable state: every stored run and pipeline reads back, with its events and graph",
    async () => {
      const runIds: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await getJson(api, `/api/runs?limit=200${cursor ? `&cursor=${cursor}` : ""}`);
        expect(page.status).toBe(200);
        const body = page.body as { runs: { run_id: string }[]; next_cursor: string | null };
        runIds.push(...body.runs.map((run) => run.run_id));
        cursor = body.next_cursor;
      } while (cursor !== null);
      // The runs the fuzz saw made are all listed (none lost from the index)...
      for (const { runId } of pools.runs) expect(runIds).toContain(runId);
      // ... and every listed one reads back, with its events and its graph.
      await expectRunsReadBack(runIds);
      for (const runId of runIds) {
        const events = await getJson(api, `/api/runs/${runId}/events`);
        expect(events.status, `events of ${runId}`).toBe(200);
        expect(Array.isArray((events.body as { events: unknown }).events)).toBe(true);
        const graph = await getJson(api, `/dashboard/api/runs/${runId}/graph`);
        expect(graph.status, `graph of ${runId}: ${JSON.stringify(graph.body)}`).toBe(200);
      }
      const pipelines = await getJson(api, "/api/pipelines");
      expect(pipelines.status).toBe(200);
      for (const { id } of (pipelines.body as { pipelines: { id: string }[] }).pipelines) {
        const stored = await getJson(api, `/api/pipelines/${encodeURIComponent(id)}`);
        expect(stored.status, `GET /api/pipelines/${id}: ${JSON.stringify(stored.body)}`).toBe(200);
        expect((stored.body as { id: string }).id).toBe(id);
      }
      expect(runIds.length).toBeGreaterThanOrEqual(3);
      // Nothing the fuzz sent made the process log an error (an unhandled one is logged before its 500).
      for (const server of [api, guarded]) {
        const errors = server
          .log()
          .split("\n")
          .filter((line) => /"level":(50|60)/.test(line));
        expect(errors, "error lines in the API's log").toEqual([]);
      }
      await expectAlive(api);
    },
    propertyTimeoutMs,
  );
});

describe("what the fuzz found, kept as examples", () => {
  it("Bull-board's API answers a query value that is not percent-encoding with 400 QUERY_INVALID, not a 500", async () => {
    for (const [path, query] of [
      ["/admin/queues/api/queues", "activeQueue=%zz"],
      ["/admin/queues/api/queues", "page=1&activeQueue=%25E0%25A4%25A"],
      ["/admin/queues/api/job-schedulers", "queueName=%25zz"],
    ] as const) {
      const answer = await sendFuzz(portOf(api), { method: "GET", path, query, headers: {} }, pools);
      expect(answer.status, `${path}?${query}: ${answer.text}`).toBe(400);
      expect(errorShapeProblem(JSON.parse(answer.text), 400)).toBeNull();
      expect(answer.text).toContain("QUERY_INVALID");
    }
    const fine = await sendFuzz(
      portOf(api),
      {
        method: "GET",
        path: "/admin/queues/api/queues",
        query: "activeQueue=runs&status=latest&page=1",
        headers: {},
      },
      pools,
    );
    expect(fine.status, fine.text).toBe(200);
  });
});
