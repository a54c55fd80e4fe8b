import { getMetricsFromIterator, type PromMetric, type PromMetrics } from "prom2javascript";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiHandle } from "../../src/api/server.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { createTestApi, newPrefix, servo, startTestServer, startTestWorker } from "../support/context.js";
import { doc, home, move } from "../support/pipelines.js";

// servo-2 fails its first move and its first home: a retry, then a run that fails and is resumed.
const devices = [servo("servo-1"), servo("servo-2", { fail_first: { move: 1, home: 1 } })];
let api: ApiHandle;
let worker: WorkerHandle;
let base: string;

beforeAll(async () => {
  const prefix = newPrefix();
  api = await startTestServer(prefix, devices);
  worker = await startTestWorker(prefix, devices);
  base = `http://127.0.0.1:${api.port}`;
});
afterAll(async () => {
  await worker.close();
  await api.close();
});

/** Prometheus' text format parsed by a parser of its own (prom2javascript), by family name. */
const parse = (text: string): Promise<PromMetrics> =>
  getMetricsFromIterator(text.split("\n")[Symbol.iterator]());

/** GET /metrics, parsed. */
async function scrape(): Promise<PromMetrics> {
  const response = await fetch(`${base}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(await response.text());
}

/** One series of a family: a gauge's or counter's {labels, value}, a histogram's {labels, buckets, count, sum}. */
function sample(families: PromMetrics, name: string, labels: Record<string, string>) {
  const family: PromMetric | undefined = families[name];
  expect(family, `no metric ${name}`).toBeDefined();
  const series = (family?.data ?? []) as {
    labels: Record<string, string>;
    value?: number;
    count?: number;
    sum?: number;
    buckets?: Record<string, number>;
  }[];
  return series.find((entry) =>
    Object.entries(labels).every(([label, value]) => entry.labels[label] === value),
  );
}

/** A gauge's or counter's value; 0 when the series is not there (yet). */
const valueOf = async (name: string, labels: Record<string, string>) =>
  sample(await scrape(), name, labels)?.value ?? 0;
/** How many observations a histogram series has. */
const countOf = async (name: string, labels: Record<string, string>) =>
  sample(await scrape(), name, labels)?.count ?? 0;

async function runToEnd(document: unknown): Promise<{ runId: string; status: string }> {
  const response = await fetch(`${base}/api/runs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ pipeline: document }),
  });
  expect(response.status).toBe(202);
  const { run_id: runId } = (await response.json()) as { run_id: string };
  return { runId, status: (await api.engine.waitForRun(runId, 10_000)).status };
}

const poll = { timeout: 5000, interval: 50 };

describe("GET /metrics", () => {
  it("is Prometheus text whose run, duration and queue figures move as runs complete", async () => {
    const before = await scrape();
    expect(before.rigflow_runs?.type).toBe("gauge");
    expect(before.rigflow_node_duration_seconds?.type).toBe("histogram");
    expect(before.rigflow_node_retries_total?.type).toBe("counter");
    expect(before.rigflow_node_failures_total?.type).toBe("counter");
    expect(before.rigflow_queue_jobs?.type).toBe("gauge");
    expect(sample(before, "rigflow_runs", { status: "completed" })?.value).toBe(0);
    expect(sample(before, "rigflow_queue_jobs", { queue: "device-servo-1", state: "completed" })?.value).toBe(
      0,
    );

    const run = await runToEnd(
      doc("timed", [home("a", "servo-1"), move("b", "servo-1", 40)], [{ source: "a", target: "b" }]),
    );
    expect(run.status).toBe("completed");

    await expect.poll(() => valueOf("rigflow_runs", { status: "completed" }), poll).toBe(1);
    await expect
      .poll(
        () => countOf("rigflow_node_duration_seconds", { device_id: "servo-1", function_id: "move" }),
        poll,
      )
      .toBe(1);
    const after = await scrape();
    const moves = sample(after, "rigflow_node_duration_seconds", {
      device_id: "servo-1",
      function_id: "move",
    });
    const executionTime = (await api.engine.getRun(run.runId)).nodes[1]?.executionTime ?? 0;
    expect(moves?.sum).toBeCloseTo(executionTime, 6);
    expect(moves?.buckets?.["+Inf"]).toBe(1);
    expect(
      sample(after, "rigflow_node_duration_seconds", { device_id: "servo-1", function_id: "home" })?.count,
    ).toBe(1);
    expect(sample(after, "rigflow_runs", { status: "running" })?.value).toBe(0);
    expect(sample(after, "rigflow_queue_jobs", { queue: "device-servo-1", state: "completed" })?.value).toBe(
      2,
    );
    expect(sample(after, "rigflow_queue_jobs", { queue: "runs", state: "completed" })?.value).toBe(1);
  });

  it("counts retries and failures, and follows a failed run that is resumed", async () => {
    const retried = await runToEnd(
      doc("retried", [{ ...move("r", "servo-2", 20), retry: { attempts: 2, backoff_ms: 10 } }]),
    );
    expect(retried.status).toBe("completed");
    await expect
      .poll(() => valueOf("rigflow_node_retries_total", { device_id: "servo-2", function_id: "move" }), poll)
      .toBe(1);

    const tooFar = await runToEnd(doc("too_far", [move("x", "servo-1", 500)]));
    expect(tooFar.status).toBe("failed");
    const failure = { device_id: "servo-1", function_id: "move", error_type: "DEVICE_ERROR" };
    await expect.poll(() => valueOf("rigflow_node_failures_total", failure), poll).toBe(1);

    const flaky = await runToEnd(doc("flaky", [home("h", "servo-2")]));
    expect(flaky.status).toBe("failed");
    await expect.poll(() => valueOf("rigflow_runs", { status: "failed" }), poll).toBe(2);
    const completed = await valueOf("rigflow_runs", { status: "completed" });
    // Resumed and completed between two scrapes: counted as completed now, no longer as failed.
    expect((await fetch(`${base}/api/runs/${flaky.runId}/retry`, { method: "POST" })).status).toBe(202);
    expect((await api.engine.waitForRun(flaky.runId, 10_000)).status).toBe("completed");
    const families = await scrape();
    expect(sample(families, "rigflow_runs", { status: "failed" })?.value).toBe(1);
    expect(sample(families, "rigflow_runs", { status: "completed" })?.value).toBe(completed + 1);
  });

  it("shows queue depth by state, a paused queue, and device states", async () => {
    // servo-1 refuses a move out of its range: it shows error until a command succeeds. The worker
    // writes device activity coalesced (every 100 ms at most), so the record may trail the run's end.
    expect((await runToEnd(doc("refused", [move("x", "servo-1", 500)]))).status).toBe("failed");
    await expect
      .poll(() => valueOf("rigflow_device_status", { device_id: "servo-1", status: "error" }), poll)
      .toBe(1);
    // servo-2's last command (the previous test's) succeeded.
    await expect
      .poll(() => valueOf("rigflow_device_status", { device_id: "servo-2", status: "idle" }), poll)
      .toBe(1);
    const refused = await scrape();
    expect(sample(refused, "rigflow_device_status", { device_id: "servo-1", status: "error" })?.value).toBe(
      1,
    );
    expect(sample(refused, "rigflow_device_status", { device_id: "servo-1", status: "idle" })?.value).toBe(0);
    expect(sample(refused, "rigflow_device_status", { device_id: "servo-2", status: "idle" })?.value).toBe(1);
    expect(sample(refused, "rigflow_device_active_commands", { device_id: "servo-1" })?.value).toBe(0);

    expect((await fetch(`${base}/api/queues/device-servo-1/pause`, { method: "POST" })).status).toBe(200);
    const { runId } = await api.engine.submitRun({ document: doc("held", [move("p", "servo-1", 10)]) });
    await expect
      .poll(() => valueOf("rigflow_queue_jobs", { queue: "device-servo-1", state: "paused" }), poll)
      .toBe(1);
    const held = await scrape();
    expect(sample(held, "rigflow_queue_paused", { queue: "device-servo-1" })?.value).toBe(1);
    expect(sample(held, "rigflow_queue_paused", { queue: "device-servo-2" })?.value).toBe(0);
    expect(sample(held, "rigflow_runs", { status: "running" })?.value).toBe(1);
    expect(sample(held, "rigflow_queue_jobs", { queue: "runs", state: "waiting-children" })?.value).toBe(1);

    expect((await fetch(`${base}/api/queues/device-servo-1/resume`, { method: "POST" })).status).toBe(200);
    expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("completed");
    await expect
      .poll(() => valueOf("rigflow_device_status", { device_id: "servo-1", status: "idle" }), poll)
      .toBe(1);
    const done = await scrape();
    expect(sample(done, "rigflow_device_status", { device_id: "servo-1", status: "error" })?.value).toBe(0);
    expect(sample(done, "rigflow_queue_jobs", { queue: "device-servo-1", state: "paused" })?.value).toBe(0);
    expect(sample(done, "rigflow_queue_paused", { queue: "device-servo-1" })?.value).toBe(0);
    expect(sample(done, "rigflow_runs", { status: "running" })?.value).toBe(0);
  });

  it("counts the runs with an approval waiting for a person", async () => {
    const approval = { id: "ok", type: "approval", message: "Go?" };
    const { runId } = await api.engine.submitRun({
      document: {
        id: "asks",
        nodes: [approval, move("after", "servo-1", 20)],
        edges: [{ source: "ok", target: "after" }],
      },
    });
    await expect.poll(() => valueOf("rigflow_runs_waiting", {}), poll).toBe(1);
    expect(await valueOf("rigflow_runs", { status: "running" })).toBe(1);
    const approved = await fetch(`${base}/api/runs/${runId}/nodes/ok/approve`, { method: "POST" });
    expect(approved.status).toBe(202);
    expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("completed");
    expect(await valueOf("rigflow_runs_waiting", {})).toBe(0);
  });

  it("is open like /healthz when API_TOKEN is set, while /api/* is not", async () => {
    const guarded = createTestApi(devices, { apiToken: "s3cret" });
    try {
      const response = await guarded.get("/metrics");
      expect(response.status).toBe(200);
      const names = Object.keys(await parse(await response.text()));
      expect(names).toEqual(
        expect.arrayContaining(["rigflow_runs", "rigflow_queue_jobs", "rigflow_device_status"]),
      );
      expect((await guarded.get("/api/queues")).status).toBe(401);
      expect((await guarded.get("/api/queues", { authorization: "Bearer s3cret" })).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});
