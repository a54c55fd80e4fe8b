import { FlowProducer, Worker } from "bullmq";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { connectRedis, type NodeJobData } from "../../src/engine/index.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { createTestApi, redisUrl, servo, startTestWorker } from "../support/context.js";
import { doc, home, move } from "../support/pipelines.js";

// servo-1 runs slow moves (active and waiting jobs); servo-2 and servo-3 fail their first move and
// home (a failed job; a job delayed by its retry backoff); servo-4's queue gets paused. servo-5's
// queue is paused while ids that name BullMQ's own keys are tried on it; servo-6 fails its first
// home (a failed run, resumed while its run job is removed).
const devices = [
  servo("servo-1"),
  servo("servo-2", { fail_first: { move: 1, home: 1 } }),
  servo("servo-3", { fail_first: { move: 1 } }),
  servo("servo-4"),
  servo("servo-5"),
  servo("servo-6", { fail_first: { home: 1 } }),
];
let api: ReturnType<typeof createTestApi>;
let worker: WorkerHandle;

beforeAll(async () => {
  api = createTestApi(devices);
  worker = await startTestWorker(api.prefix, devices);
});
afterAll(async () => {
  await worker.close();
  await api.close();
});

interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}
interface QueueBody {
  name: string;
  device_id: string | null;
  capacity: number | null;
  paused: boolean;
  global_concurrency: number | null;
  counts: Record<string, number>;
}
interface JobBody {
  job_id: string;
  queue: string;
  name: string;
  kind: string;
  state: string;
  run_id: string | null;
  node_id: string | null;
  epoch: number | null;
  run_url: string | null;
  data: Record<string, unknown>;
  return_value: unknown;
  failed_reason: string | null;
  attempts_made: number;
  attempts: number;
  progress: unknown;
  created_at: string | null;
  processed_at: string | null;
  finished_at: string | null;
  parent: { job_id: string; queue: string } | null;
  stacktrace?: string[];
  logs?: string[];
  log_count?: number;
}
interface JobPage {
  total: number;
  start: number;
  end: number;
  jobs: JobBody[];
}

async function json<T>(response: Response, status: number): Promise<T> {
  const text = await response.text();
  expect(response.status, text).toBe(status);
  return JSON.parse(text) as T;
}
async function expectError(response: Response, status: number, code: string) {
  const { error } = await json<ErrorBody>(response, status);
  expect(error.code, error.message).toBe(code);
  return error;
}
const nodeJob = (runId: string, nodeId: string, epoch = 0) => `${runId}__${epoch}__${nodeId}`;
const list = (queue: string, state: string, extra = "") =>
  api.get(`/api/queues/${queue}/jobs?state=${state}${extra}`);
const getJob = (queue: string, jobId: string) => api.get(`/api/queues/${queue}/jobs/${jobId}`);
const act = (queue: string, jobId: string, action: "retry" | "remove" | "promote") =>
  api.post(`/api/queues/${queue}/jobs/${jobId}/${action}`, {});
const actions = ["retry", "remove", "promote"] as const;
/** The run the BullMQ-keys test leaves waiting on paused servo-5, for the timeout test after it. */
let heldRunId = "";
const queueOf = async (name: string) => json<QueueBody>(await api.get(`/api/queues/${name}`), 200);
const idsIn = async (queue: string, state: string) =>
  (await json<JobPage>(await list(queue, state), 200)).jobs.map((job) => job.job_id);
const submit = async (document: unknown) => (await api.engine.submitRun({ document })).runId;
const nodeStatus = async (runId: string, nodeId: string) =>
  (await api.engine.getRun(runId)).nodes.find((node) => node.nodeId === nodeId)?.status;

/** A delayed node job added by hand, as a tool other than Rigflow could: the guard must judge it. */
async function handMadeDelayedJob(runId: string, pipelineId: string, nodeId: string) {
  const data: NodeJobData = {
    runId,
    pipelineId,
    nodeId,
    epoch: 0,
    deviceId: "servo-1",
    functionId: "home",
    params: {},
    inputs: [],
    successors: [],
    timeoutMs: 30_000,
    idempotent: true,
    retry: { attempts: 1, backoffMs: 0 },
  };
  await api.engine.queues
    .device("servo-1")
    .add("home", data, { jobId: nodeJob(runId, nodeId), delay: 60_000 });
  return nodeJob(runId, nodeId);
}

describe("queue inspection", () => {
  it("lists the runs queue and every device's queue, even empty ones, with counts of every state", async () => {
    const { queues } = await json<{ queues: QueueBody[] }>(await api.get("/api/queues"), 200);
    expect(queues.map((queue) => queue.name)).toEqual([
      "runs",
      "device-servo-1",
      "device-servo-2",
      "device-servo-3",
      "device-servo-4",
      "device-servo-5",
      "device-servo-6",
    ]);
    for (const queue of queues) {
      expect(Object.keys(queue.counts).sort()).toEqual(
        [
          "active",
          "completed",
          "delayed",
          "failed",
          "paused",
          "prioritized",
          "waiting",
          "waiting-children",
        ].sort(),
      );
      expect(queue.paused).toBe(false);
    }
    // The worker set each device queue's global concurrency to the device's capacity.
    expect(queues[1]).toMatchObject({ device_id: "servo-1", capacity: 1, global_concurrency: 1 });
    expect(queues[0]).toMatchObject({ device_id: null, capacity: null });
  });

  it("shows completed jobs with their return value, progress, timestamps, logs and run link", async () => {
    const runId = await submit(
      doc("done", [home("a", "servo-4"), move("b", "servo-4", 30)], [{ source: "a", target: "b" }]),
    );
    expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("completed");

    const page = await json<JobPage>(await list("device-servo-4", "completed"), 200);
    expect(page.total).toBeGreaterThanOrEqual(2);
    const listed = page.jobs.find((job) => job.job_id === nodeJob(runId, "b"));
    expect(listed).toMatchObject({
      kind: "node",
      state: "completed",
      run_id: runId,
      node_id: "b",
      epoch: 0,
      run_url: `/runs/${runId}?node=b`,
      return_value: { complete: true, position: 30 },
    });

    await (await api.engine.queues.device("servo-4").getJob(nodeJob(runId, "b")))?.log("checked by hand");
    const detail = await json<JobBody>(await getJob("device-servo-4", nodeJob(runId, "b")), 200);
    expect(detail).toMatchObject({
      name: "move",
      attempts_made: 1,
      attempts: 1,
      progress: 1,
      failed_reason: null,
      stacktrace: [],
      logs: ["checked by hand"],
      log_count: 1,
      parent: { job_id: runId, queue: "runs" },
    });
    expect(detail.data).toMatchObject({ runId, nodeId: "b", functionId: "move", params: { position: 30 } });
    for (const at of [detail.created_at, detail.processed_at, detail.finished_at]) {
      expect(at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
    const runJob = await json<JobBody>(await getJob("runs", runId), 200);
    expect(runJob).toMatchObject({
      kind: "run",
      state: "completed",
      run_id: runId,
      node_id: null,
      run_url: `/runs/${runId}`,
    });

    // A finished job cannot be retried or promoted; a job of an ended run may be removed.
    await expectError(await act("device-servo-4", nodeJob(runId, "a"), "retry"), 409, "JOB_STATE_CONFLICT");
    await expectError(await act("device-servo-4", nodeJob(runId, "a"), "promote"), 409, "JOB_STATE_CONFLICT");
    const removed = await json<{ action: string }>(
      await act("device-servo-4", nodeJob(runId, "a"), "remove"),
      200,
    );
    expect(removed.action).toBe("removed");
    await expectError(await getJob("device-servo-4", nodeJob(runId, "a")), 404, "JOB_NOT_FOUND");
    // The ledger does not depend on the job record.
    const run = await api.engine.getRun(runId);
    expect(run.status).toBe("completed");
    expect(run.nodes.find((node) => node.nodeId === "a")?.outputs).toEqual({ complete: true, position: 0 });
  });

  it("active and waiting jobs of a running run may not be removed; a node that is not ready may not be promoted", async () => {
    // speed 20: a move of 150 takes 7.5 s, time enough to look at the queues while it runs.
    const slow = doc(
      "slow",
      [
        { id: "a", device_id: "servo-1", function_id: "move", params: { position: 150, speed: 20 } },
        home("b", "servo-1"),
      ],
      [{ source: "a", target: "b" }],
    );
    const first = await submit(slow);
    await expect.poll(() => nodeStatus(first, "a"), { timeout: 5000, interval: 20 }).toBe("running");
    const second = await submit(doc("behind", [move("c", "servo-1", 10)]));
    await expect.poll(() => nodeStatus(second, "c"), { timeout: 5000, interval: 20 }).toBe("queued");
    await expect
      .poll(() => idsIn("device-servo-1", "waiting"), { timeout: 5000, interval: 20 })
      .toContain(nodeJob(second, "c"));

    expect(await idsIn("device-servo-1", "active")).toEqual([nodeJob(first, "a")]);
    expect(await idsIn("runs", "waiting-children")).toEqual(expect.arrayContaining([first, second]));
    const counts = (await queueOf("device-servo-1")).counts;
    expect(counts).toMatchObject({ active: 1, waiting: 1 });

    const active = await expectError(
      await act("device-servo-1", nodeJob(first, "a"), "remove"),
      409,
      "JOB_STATE_CONFLICT",
    );
    expect(active.message).toContain(`POST /api/runs/${first}/cancel`);
    const waiting = await expectError(
      await act("device-servo-1", nodeJob(second, "c"), "remove"),
      409,
      "RUN_NOT_ENDED",
    );
    expect(waiting.details).toMatchObject({ run_id: second, run_status: "running" });
    await expectError(await act("runs", first, "remove"), 409, "RUN_NOT_ENDED");
    await expectError(
      await act("device-servo-1", nodeJob(second, "c"), "promote"),
      409,
      "JOB_STATE_CONFLICT",
    );
    await expectError(await act("device-servo-1", nodeJob(first, "a"), "retry"), 409, "JOB_STATE_CONFLICT");

    // A delayed job for "b", whose predecessor is still running.
    const early = await handMadeDelayedJob(first, "slow", "b");
    const notReady = await expectError(await act("device-servo-1", early, "promote"), 409, "NODE_NOT_READY");
    expect(notReady.message).toContain("'a' (running)");
    expect(await nodeStatus(first, "b")).toBe("pending");

    // Cancel ends the run (and takes the hand-made job out with its other jobs not begun).
    await api.engine.cancelRun(first);
    expect((await api.engine.waitForRun(first, 10_000)).status).toBe("cancelled");
    expect((await api.engine.waitForRun(second, 10_000)).status).toBe("completed");
    const late = await handMadeDelayedJob(first, "slow", "b");
    const ended = await expectError(await act("device-servo-1", late, "promote"), 409, "NODE_NOT_READY");
    expect(ended.message).toContain("the run is cancelled");
    await json(await act("device-servo-1", late, "remove"), 200);
  });

  it("promotes a node waiting out its retry backoff, and the run goes on at once", async () => {
    const runId = await submit(
      doc("backoff", [{ ...move("r", "servo-3", 20), retry: { attempts: 2, backoff_ms: 600_000 } }]),
    );
    const jobId = nodeJob(runId, "r");
    await expect
      .poll(() => idsIn("device-servo-3", "delayed"), { timeout: 5000, interval: 20 })
      .toContain(jobId);
    expect((await queueOf("device-servo-3")).counts.delayed).toBe(1);
    expect(await json<JobBody>(await getJob("device-servo-3", jobId), 200)).toMatchObject({
      state: "delayed",
      attempts_made: 1,
      attempts: 2,
    });
    await expectError(await act("device-servo-3", jobId, "remove"), 409, "RUN_NOT_ENDED");

    const promoted = await json<{ state: string }>(await act("device-servo-3", jobId, "promote"), 200);
    expect(["waiting", "active", "completed"]).toContain(promoted.state);
    const run = await api.engine.waitForRun(runId, 5000);
    expect(run.status).toBe("completed");
    expect(run.nodes[0]?.attempts).toBe(2);
  });

  it("retrying a failed node job resumes its run; its old job is then superseded", async () => {
    const runId = await submit(doc("flaky", [move("m", "servo-2", 10)]));
    expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("failed");
    const failedJob = await json<JobBody>(await getJob("device-servo-2", nodeJob(runId, "m")), 200);
    expect(failedJob).toMatchObject({ state: "failed", attempts_made: 1 });
    expect(failedJob.failed_reason).toBeTruthy();
    expect(failedJob.stacktrace?.length).toBeGreaterThan(0);
    expect(await idsIn("device-servo-2", "failed")).toContain(nodeJob(runId, "m"));
    expect(await idsIn("runs", "failed")).toContain(runId);

    const resumed = await json<{ action: string; run_id: string; run_status: string; run_url: string }>(
      await act("device-servo-2", nodeJob(runId, "m"), "retry"),
      202,
    );
    expect(resumed).toMatchObject({
      action: "run_resumed",
      run_id: runId,
      run_status: "running",
      run_url: `/runs/${runId}`,
    });
    expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("completed");
    expect(await idsIn("device-servo-2", "completed")).toContain(nodeJob(runId, "m", 1));

    const superseded = await expectError(
      await act("device-servo-2", nodeJob(runId, "m"), "retry"),
      409,
      "JOB_SUPERSEDED",
    );
    expect(superseded.details).toMatchObject({ newer_job_id: nodeJob(runId, "m", 1) });
  });

  it("cleans finished jobs; the runs' ledgers do not depend on them, and a failed run still resumes", async () => {
    const runId = await submit(doc("clean_me", [home("h", "servo-2")]));
    expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("failed");

    for (const queue of ["device-servo-2", "runs"]) {
      const cleaned = await json<{ removed: number; job_ids: string[] }>(
        await api.post(`/api/queues/${queue}/clean`, { state: "failed", grace_ms: 0 }),
        200,
      );
      expect(cleaned.job_ids).toContain(queue === "runs" ? runId : nodeJob(runId, "h"));
      expect(cleaned.removed).toBe(cleaned.job_ids.length);
      expect(await idsIn(queue, "failed")).toEqual([]);
    }
    // Resuming re-adds the run job it finds gone, and the node runs again in a new epoch.
    expect((await api.post(`/api/runs/${runId}/retry`, {})).status).toBe(202);
    expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("completed");

    const before = (await queueOf("device-servo-4")).counts.completed ?? 0;
    expect(before).toBeGreaterThanOrEqual(1);
    const limited = await json<{ removed: number }>(
      await api.post("/api/queues/device-servo-4/clean", { state: "completed", grace_ms: 0, limit: 1 }),
      200,
    );
    expect(limited.removed).toBe(1);
    const all = await json<{ removed: number }>(
      await api.post("/api/queues/device-servo-4/clean", { state: "completed", grace_ms: 0 }),
      200,
    );
    expect(all.removed).toBe(before - 1);
    expect((await queueOf("device-servo-4")).counts.completed).toBe(0);
    const kept = await json<{ removed: number }>(
      await api.post("/api/queues/device-servo-2/clean", { state: "completed", grace_ms: 3_600_000 }),
      200,
    );
    expect(kept.removed).toBe(0);
    expect((await api.engine.getRun(runId)).nodes[0]).toMatchObject({
      status: "completed",
      outputs: { position: 0 },
    });
  });

  it("a paused device queue holds its jobs as paused, a worker starting does not resume it, and resume lets the run finish", async () => {
    const paused = await json<QueueBody>(await api.post("/api/queues/device-servo-4/pause", {}), 200);
    expect(paused.paused).toBe(true);
    // A worker re-asserts every queue's global concurrency when it starts; the pause stays.
    const other = await startTestWorker(api.prefix, [servo("servo-4")]);
    await other.close();
    expect((await queueOf("device-servo-4")).paused).toBe(true);

    const runId = await submit(doc("held", [move("p", "servo-4", 40)]));
    const jobId = nodeJob(runId, "p");
    await expect
      .poll(() => idsIn("device-servo-4", "paused"), { timeout: 5000, interval: 20 })
      .toContain(jobId);
    expect(await idsIn("device-servo-4", "waiting")).toEqual([]);
    expect((await queueOf("device-servo-4")).counts).toMatchObject({ paused: 1, waiting: 0 });
    expect((await json<JobBody>(await getJob("device-servo-4", jobId), 200)).state).toBe("paused");
    expect(await nodeStatus(runId, "p")).toBe("queued");
    await expectError(await act("device-servo-4", jobId, "remove"), 409, "RUN_NOT_ENDED");

    const resumed = await json<QueueBody>(await api.post("/api/queues/device-servo-4/resume", {}), 200);
    expect(resumed.paused).toBe(false);
    expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("completed");
  });

  it("never takes BullMQ's own keys of a queue for jobs: a paused queue keeps its pause and concurrency", async () => {
    const queue = "device-servo-5";
    expect((await json<QueueBody>(await api.post(`/api/queues/${queue}/pause`, {}), 200)).paused).toBe(true);
    const runId = await submit({ ...doc("kept_paused", [move("k", "servo-5", 10)]), timeout_ms: 600_000 });
    await expect
      .poll(() => idsIn(queue, "paused"), { timeout: 5000, interval: 20 })
      .toContain(nodeJob(runId, "k"));
    // The keys are there, each of another kind: the meta hash (pause, global concurrency), the
    // events stream, the wait list, the id counter. And a hash without a job's fields.
    const key = (name: string) => `${api.prefix}:${queue}:${name}`;
    expect(
      await Promise.all(["meta", "events", "wait", "id"].map((name) => api.redis.type(key(name)))),
    ).toEqual(["hash", "stream", "list", "string"]);
    await api.redis.hset(key("not_a_job"), "state", "made by hand");
    const meta = await api.redis.hgetall(key("meta"));
    expect(meta).toMatchObject({ paused: "1" });

    const names = [
      ...["meta", "events", "wait", "id", "marker", "stalled-check", "pc", "prioritized", "paused"],
      ...["delayed", "completed", "failed", "active", "limiter", "repeat", "de", "waiting-children"],
      ...["stalled", "priority", "not_a_job"],
    ];
    for (const name of names) {
      for (const where of [queue, "runs"]) await expectError(await getJob(where, name), 404, "JOB_NOT_FOUND");
    }
    for (const name of ["meta", "events", "wait", "id", "not_a_job"]) {
      for (const action of actions) {
        for (const where of [queue, "runs"]) {
          const error = await expectError(await act(where, name, action), 404, "JOB_NOT_FOUND");
          expect(error.details).toEqual({ queue: where, job_id: name });
        }
      }
    }
    expect(await api.redis.hgetall(key("meta"))).toEqual(meta);
    expect(await queueOf(queue)).toMatchObject({
      paused: true,
      global_concurrency: 1,
      counts: { paused: 1 },
    });
    expect((await queueOf("runs")).paused).toBe(false);
    await api.redis.del(key("not_a_job"));
    expect(await nodeStatus(runId, "k")).toBe("queued");
    heldRunId = runId;
  });

  it("a promoted job gone by the time it is read again has completed (a timeout job, removed on completion)", async () => {
    // The run of the test before waits on paused servo-5, with a delayed timeout job.
    const runId = heldRunId;
    const timeoutJob = `${runId}__timeout__0`;
    expect((await json<JobBody>(await getJob("runs", timeoutJob), 200)).state).toBe("delayed");

    // Read the job again only once it has run (timed the run out) and been removed.
    const inspector = api.queueAdmin.inspector;
    const find = inspector.find.bind(inspector);
    let reads = 0;
    const spy = vi.spyOn(inspector, "find").mockImplementation(async (name, jobId) => {
      reads += 1;
      if (reads === 2) {
        await expect
          .poll(() => api.engine.queues.runs().getJob(timeoutJob), { timeout: 5000, interval: 20 })
          .toBeUndefined();
      }
      return find(name, jobId);
    });
    try {
      const promoted = await json<{ action: string; state: string }>(
        await act("runs", timeoutJob, "promote"),
        200,
      );
      expect(promoted).toMatchObject({ action: "promoted", state: "completed" });
      expect(reads).toBe(2);
    } finally {
      spy.mockRestore();
    }
    const run = await api.engine.waitForRun(runId, 10_000);
    expect(run.status).toBe("failed");
    expect(run.error?.code).toBe("RUN_TIMEOUT");
    // The run's end took its node's job out; the queue resumes with nothing waiting.
    const resumed = await json<QueueBody>(await api.post("/api/queues/device-servo-5/resume", {}), 200);
    expect(resumed).toMatchObject({ paused: false, counts: { waiting: 0, paused: 0, active: 0 } });
  });

  it("removing a run job while its run is resumed wakes it again: the run finishes without the sweeper", async () => {
    const runId = await submit(doc("raced", [home("h", "servo-6")]));
    expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("failed");
    // The runs queue paused, so the run job the resume wakes waits instead of starting.
    await json(await api.post("/api/queues/runs/pause", {}), 200);
    const inspector = api.queueAdmin.inspector;
    const find = inspector.find.bind(inspector);
    // The guard sees the run failed; the resume comes in between its check and BullMQ's remove.
    const spy = vi.spyOn(inspector, "find").mockImplementationOnce(async (name, jobId) => {
      const found = await find(name, jobId);
      const remove = found.job.remove.bind(found.job);
      found.job.remove = async (options) => {
        expect(await api.engine.resumeRun(runId)).toBe("running");
        return remove(options);
      };
      return found;
    });
    try {
      const removed = await json<{ action: string }>(await act("runs", runId, "remove"), 200);
      expect(removed.action).toBe("removed");
      expect(spy).toHaveBeenCalledTimes(1);
      // The run job is back (waiting on the paused queue), not left for the sweeper to find.
      expect((await json<JobBody>(await getJob("runs", runId), 200)).state).toBe("paused");
      expect((await api.engine.getRun(runId)).status).toBe("running");
    } finally {
      spy.mockRestore();
      await json(await api.post("/api/queues/runs/resume", {}), 200);
    }
    const run = await api.engine.waitForRun(runId, 10_000);
    expect(run.status).toBe("completed");
    expect(run.nodes[0]).toMatchObject({ status: "completed", outputs: { position: 0 } });
  });

  it("a job whose child is held by a worker is not removed: 409, not a fault", async () => {
    const scratch = "scratch-children"; // not one of the API's queues: only this test's worker takes from it
    const flows = new FlowProducer({ connection: api.redis, prefix: api.prefix });
    const blocking = connectRedis(redisUrl(), { blocking: true, name: "test-manual-worker" });
    const worker = new Worker(scratch, null, { connection: blocking, prefix: api.prefix, autorun: false });
    try {
      await flows.add({
        name: "hand-made",
        queueName: "device-servo-1",
        opts: { jobId: "hand.parent" },
        data: {},
        children: [{ name: "child", queueName: scratch, data: {}, opts: { jobId: "hand.child" } }],
      });
      const child = await worker.getNextJob("manual-token", { block: false });
      expect(child?.id).toBe("hand.child");
      expect((await json<JobBody>(await getJob("device-servo-1", "hand.parent"), 200)).state).toBe(
        "waiting-children",
      );

      const locked = await expectError(
        await act("device-servo-1", "hand.parent", "remove"),
        409,
        "JOB_STATE_CONFLICT",
      );
      expect(locked.message).toContain("held by a worker");
      expect(locked.details).toMatchObject({ job_id: "hand.parent", state: "waiting-children" });
      expect((await json<JobBody>(await getJob("device-servo-1", "hand.parent"), 200)).state).toBe(
        "waiting-children",
      );

      // Once the child's lock is gone (its worker died, say), the parent goes, and its child with it.
      await api.redis.del(`${api.prefix}:${scratch}:hand.child:lock`);
      await json(await act("device-servo-1", "hand.parent", "remove"), 200);
      await expectError(await getJob("device-servo-1", "hand.parent"), 404, "JOB_NOT_FOUND");
      expect(await api.engine.queues.get(scratch).getJob("hand.child")).toBeUndefined();
    } finally {
      await worker.close();
      await flows.close();
      await blocking.quit();
    }
  });

  it("shows and removes jobs added by hand with ids of their own (dots, @, the numbers BullMQ gives)", async () => {
    const queue = api.engine.queues.device("servo-1");
    const custom = ["nightly.check@lab-2", "batch_7-a.b", "v1.2+build~3", "ünï.code"];
    for (const jobId of custom) {
      await queue.add("home", { note: "by hand" } as never, { jobId, delay: 600_000 });
    }
    const numbered = await queue.add("home", { note: "numbered" } as never, { delay: 600_000 });
    expect(numbered.id).toMatch(/^\d+$/);
    const ids = [...custom, numbered.id ?? ""];

    expect(await idsIn("device-servo-1", "delayed")).toEqual(expect.arrayContaining(ids));
    for (const jobId of ids) {
      const detail = await json<JobBody>(await getJob("device-servo-1", encodeURIComponent(jobId)), 200);
      expect(detail).toMatchObject({ job_id: jobId, kind: "other", state: "delayed", run_id: null });
    }
    for (const jobId of ids) {
      await json(await act("device-servo-1", encodeURIComponent(jobId), "remove"), 200);
      await expectError(await getJob("device-servo-1", encodeURIComponent(jobId)), 404, "JOB_NOT_FOUND");
    }
    expect(await idsIn("device-servo-1", "delayed")).toEqual([]);
  });

  it("pages a state's jobs", async () => {
    // servo-2's two completed jobs: "flaky" and "clean_me", each in its run's second epoch.
    const total = (await queueOf("device-servo-2")).counts.completed ?? 0;
    expect(total).toBe(2);
    const first = await json<JobPage>(await list("device-servo-2", "completed", "&start=0&end=0"), 200);
    const second = await json<JobPage>(await list("device-servo-2", "completed", "&start=1&end=1"), 200);
    expect(first).toMatchObject({ total, start: 0, end: 0 });
    expect(first.jobs).toHaveLength(1);
    expect(second.jobs).toHaveLength(1);
    expect(second.jobs[0]?.job_id).not.toBe(first.jobs[0]?.job_id);
    const beyond = await json<JobPage>(await list("device-servo-2", "completed", "&start=1000"), 200);
    expect(beyond).toMatchObject({ total, start: 1000, end: 1049, jobs: [] });
  });
});

describe("queue inspection: bad input", () => {
  it("answers 404 for an unknown queue or job", async () => {
    await expectError(await api.get("/api/queues/nope"), 404, "QUEUE_NOT_FOUND");
    await expectError(await list("device-nope", "waiting"), 404, "QUEUE_NOT_FOUND");
    await expectError(await getJob("device-nope", "x"), 404, "QUEUE_NOT_FOUND");
    await expectError(await api.post("/api/queues/device-nope/pause", {}), 404, "QUEUE_NOT_FOUND");
    await expectError(
      await api.post("/api/queues/nope/clean", { state: "failed", grace_ms: 0 }),
      404,
      "QUEUE_NOT_FOUND",
    );
    await expectError(await getJob("runs", "run_missing"), 404, "JOB_NOT_FOUND");
    await expectError(await getJob("runs", "bad%3Aid"), 404, "JOB_NOT_FOUND");
    await expectError(await getJob("runs", "bad%20id"), 404, "JOB_NOT_FOUND");
    await expectError(await getJob("runs", "x".repeat(301)), 404, "JOB_NOT_FOUND");
    for (const action of ["retry", "remove", "promote"] as const) {
      await expectError(await act("device-servo-1", "run_missing__0__a", action), 404, "JOB_NOT_FOUND");
    }
  });

  it("answers 400 for a bad state or bounds when listing", async () => {
    for (const query of [
      "",
      "?state=bogus",
      "?state=waiting&start=-1",
      "?state=waiting&start=abc",
      "?state=waiting&start=5&end=4",
      "?state=waiting&start=0&end=200",
      "?state=waiting&end=1.5",
    ]) {
      const error = await expectError(await api.get(`/api/queues/runs/jobs${query}`), 400, "QUERY_INVALID");
      expect(error.message).toMatch(/^query\./);
    }
  });

  it("answers 400 for a bad clean", async () => {
    for (const body of [
      { state: "waiting", grace_ms: 0 },
      { state: "active", grace_ms: 0 },
      { state: "bogus", grace_ms: 0 },
      { state: "completed" },
      { state: "completed", grace_ms: -1 },
      { state: "completed", grace_ms: "10" },
      { state: "completed", grace_ms: 1.5 },
      { state: "completed", grace_ms: 0, limit: 0 },
      { state: "completed", grace_ms: 0, extra: true },
    ]) {
      await expectError(await api.post("/api/queues/runs/clean", body), 400, "VALIDATION_FAILED");
    }
    const only = await expectError(
      await api.post("/api/queues/runs/clean", { state: "waiting", grace_ms: 0 }),
      400,
      "VALIDATION_FAILED",
    );
    expect(only.message).toContain("only finished jobs");
    await expectError(await api.post("/api/queues/runs/clean", "{"), 400, "BODY_INVALID_JSON");
  });
});
