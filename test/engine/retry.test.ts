import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { drivers } from "../../src/drivers/registry.js";
import {
  createCatalog,
  defaultLimits,
  deviceQueueName,
  neverRetriedCodes,
  retryDelayMs,
  retryPolicyProblem,
  RigflowError,
  type RetryPolicy,
  type RunEvent,
  type RunState,
} from "../../src/engine/index.js";
import { compilePipeline, parsePipelineDocument } from "../../src/engine/pipeline/validate.js";
import { nodeJobId } from "../../src/engine/redis/queues.js";
import { createTestApi, servo, withRig } from "../support/context.js";
import { doc, move } from "../support/pipelines.js";
import { runToEnd } from "../support/runs.js";

type Api = ReturnType<typeof createTestApi>;
type Retrying = Extract<RunEvent, { type: "node_retrying" }>;
type Executing = Extract<RunEvent, { type: "node_executing" }>;

/** The node's node_retrying events, each with the time until the node's next node_executing. */
async function retries(api: Api, run: RunState, nodeId: string) {
  const events = (await api.engine.runEvents(run.runId)).filter(
    (e) => "node_id" in e && e.node_id === nodeId,
  );
  const retrying = events.filter((e): e is Retrying => e.type === "node_retrying");
  const executing = events.filter((e): e is Executing => e.type === "node_executing");
  return {
    executions: executing.length,
    failed: events.some((e) => e.type === "node_failed"),
    retrying: retrying.map((event) => {
      const next = executing.find((e) => e.attempt === event.attempt);
      return {
        attempt: event.attempt,
        delayMs: event.delay_ms,
        message: event.error_message,
        gapMs: next ? Date.parse(next.timestamp) - Date.parse(event.timestamp) : undefined,
      };
    }),
  };
}

/**
 * The delays BullMQ itself applied to the node's job, oldest first: each "delayed" entry of the
 * queue's event stream holds the time the job comes up again; the entry's id, when it was written.
 */
async function appliedDelays(api: Api, run: RunState, deviceId: string, nodeId: string) {
  const jobId = nodeJobId(run.runId, nodeId, 0);
  const entries = await api.redis.xrange(`${api.prefix}:${deviceQueueName(deviceId)}:events`, "-", "+");
  return entries.flatMap(([id, fields]) => {
    const field = (name: string) => fields[fields.indexOf(name) + 1];
    if (field("event") !== "delayed" || field("jobId") !== jobId) return [];
    return [Number(field("delay")) - Number(id.split("-")[0])];
  });
}

/**
 * BullMQ waited what node_retrying said, every time, less the ms between the worker reading its
 * clock and Redis writing the entry: up to 30 on a busy machine, and 109 once under the whole
 * suite's load on two cores. That the wait itself happened, the events' gap checks (gapMs).
 */
function expectApplied(applied: number[], retrying: { delayMs: number }[]) {
  expect(applied).toHaveLength(retrying.length);
  retrying.forEach(({ delayMs }, i) => {
    expect(applied[i]).toBeLessThanOrEqual(delayMs);
    expect(applied[i]).toBeGreaterThanOrEqual(delayMs - 150);
  });
}

describe("retry delays", () => {
  const fixed: RetryPolicy = { attempts: 5, backoffMs: 200 };
  const exponential: RetryPolicy = { attempts: 5, backoffMs: 50, backoff: "exponential", maxBackoffMs: 200 };

  it("fixed: every retry waits backoff_ms, as the old {attempts, backoff_ms} did", () => {
    expect([1, 2, 3, 4].map((n) => retryDelayMs(fixed, n))).toEqual([200, 200, 200, 200]);
  });

  it("exponential: backoff_ms doubled after each failed attempt, up to max_backoff_ms", () => {
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(exponential, n))).toEqual([50, 100, 200, 200, 200]);
    const uncapped = { attempts: 100, backoffMs: 1000, backoff: "exponential" as const };
    expect(retryDelayMs(uncapped, 3)).toBe(4000);
    expect(retryDelayMs(uncapped, 99)).toBe(3_600_000); // one hour at most, whatever the attempt
  });

  it("jitter: drawn from [ceil(d/2), d], never above the cap", () => {
    const jittered = { ...exponential, jitter: true };
    expect([1, 2, 3, 4].map((n) => retryDelayMs(jittered, n, () => 0))).toEqual([25, 50, 100, 100]);
    const top = () => 0.999_999;
    expect([1, 2, 3, 4].map((n) => retryDelayMs(jittered, n, top))).toEqual([50, 100, 200, 200]);
    for (let i = 0; i < 1000; i += 1) {
      const delay = retryDelayMs(jittered, 4);
      expect(delay).toBeGreaterThanOrEqual(100);
      expect(delay).toBeLessThanOrEqual(200);
      expect(Number.isInteger(delay)).toBe(true);
    }
    expect(retryDelayMs({ attempts: 3, backoffMs: 0, jitter: true }, 1)).toBe(0);
  });

  it("docs/pipelines.md's retry section names every code that is never retried", () => {
    const page = readFileSync(new URL("../../docs/pipelines.md", import.meta.url), "utf8");
    const section = page.slice(page.indexOf("## Retries"));
    const never = section.slice(section.indexOf("**Never retried**"), section.indexOf("Retried:"));
    expect([...neverRetriedCodes].filter((code) => !never.includes(`\`${code}\``))).toEqual([]);
  });

  it("every driver's default policy is valid", () => {
    for (const driver of drivers.values()) {
      for (const fn of driver.functions) {
        expect(retryPolicyProblem(fn.retry), `${driver.name}/${fn.id}`).toBeUndefined();
      }
    }
  });
});

describe("a node's retry document", () => {
  const catalog = createCatalog([servo("servo-1")], drivers.values());
  const withRetry = (retry: unknown) =>
    doc("p", [move("a", "servo-1", 10), { ...move("b", "servo-1", 20), retry }]);
  const rejection = (document: unknown): RigflowError => {
    try {
      compilePipeline(parsePipelineDocument(document).pipeline, catalog, defaultLimits);
    } catch (error) {
      if (error instanceof RigflowError) return error;
      throw error;
    }
    throw new Error("the pipeline was accepted");
  };

  it.each([
    [{ attempts: 3, backoff_ms: 200, max_backoff_ms: 100, backoff: "exponential" }, "retry.max_backoff_ms"],
    [{ attempts: 3, backoff_ms: 100, max_backoff_ms: 1000 }, "retry.max_backoff_ms"],
    [{ attempts: 3, backoff: "exponential" }, "retry.backoff_ms"],
    [{ attempts: 3, backoff_ms: 100, backoff: "linear" }, "retry.backoff"],
    [{ attempts: 3, backoff_ms: 100, jitter: "yes" }, "retry.jitter"],
    [{ attempts: 0 }, "retry.attempts"],
  ])("rejects %j naming the node and the field", (retry, field) => {
    const error = rejection(withRetry(retry));
    expect(error.code).toBe("PIPELINE_INVALID");
    expect(error.details).toMatchObject({ node_id: "b" });
    expect(error.message).toMatch(new RegExp(`^node 'b': ${field.replace(".", "\\.")}: `));
  });

  it("refuses an unknown field in it as VALIDATION_FAILED naming the field", () => {
    const error = rejection(withRetry({ attempts: 3, backof: "exponential" }));
    expect(error.code).toBe("VALIDATION_FAILED");
    expect(error.details).toMatchObject({ field: "nodes[1].retry.backof" });
  });

  it("says what is wrong with a cap below the first delay", () => {
    const error = rejection(
      withRetry({ attempts: 3, backoff_ms: 200, backoff: "exponential", max_backoff_ms: 100 }),
    );
    expect(error.message).toBe("node 'b': retry.max_backoff_ms: must be at least backoff_ms (200), not 100");
  });

  it("is compiled into the plan, or the function's default when absent", () => {
    const plan = compilePipeline(
      parsePipelineDocument(
        withRetry({ attempts: 4, backoff_ms: 10, backoff: "exponential", max_backoff_ms: 80, jitter: true }),
      ).pipeline,
      catalog,
      defaultLimits,
    );
    const retryOf = (id: string) => plan.nodes.find((node) => node.id === id)?.retry;
    expect(retryOf("b")).toEqual({
      attempts: 4,
      backoffMs: 10,
      backoff: "exponential",
      maxBackoffMs: 80,
      jitter: true,
    });
    expect(retryOf("a")).toEqual({ attempts: 1, backoffMs: 500 });
    const legacy = compilePipeline(
      parsePipelineDocument(withRetry({ attempts: 2, backoff_ms: 30 })).pipeline,
      catalog,
      defaultLimits,
    );
    expect(legacy.nodes.find((node) => node.id === "b")?.retry).toEqual({
      attempts: 2,
      backoffMs: 30,
      backoff: "fixed",
      jitter: false,
    });
  });

  it("is answered 400 by the API, and functions show their default policy", async () => {
    const api = createTestApi([servo("servo-1")]);
    try {
      const response = await api.post("/api/runs", {
        pipeline: withRetry({ attempts: 3, backoff_ms: 500, backoff: "exponential", max_backoff_ms: 50 }),
      });
      expect(response.status).toBe(400);
      const body = (await response.json()) as { error: { code: string; message: string; details: object } };
      expect(body.error).toMatchObject({ code: "PIPELINE_INVALID", details: { node_id: "b" } });
      expect(body.error.message).toContain("node 'b'");
      const functions = (await (await api.get("/api/functions")).json()) as {
        drivers: { driver: string; functions: { function_id: string; retry: unknown }[] }[];
      };
      const status = functions.drivers
        .find((d) => d.driver === "mock-servo")
        ?.functions.find((f) => f.function_id === "status");
      expect(status?.retry).toEqual({ attempts: 3, backoff_ms: 100, backoff: "fixed", jitter: false });
    } finally {
      await api.close();
    }
  });
});

describe("retries in a run", () => {
  it("fixed backoff: each retry waits backoff_ms, as before", async () => {
    await withRig([servo("flaky-1", { fail_first: { move: 2 } })], async (api) => {
      const node = { ...move("m", "flaky-1", 10), retry: { attempts: 3, backoff_ms: 60 } };
      const run = await runToEnd(api.engine, doc("fixed", [node]));
      expect(run.status).toBe("completed");
      expect(run.nodes[0]?.attempts).toBe(3);
      const { retrying, executions } = await retries(api, run, "m");
      expect(executions).toBe(3);
      expect(retrying.map((r) => [r.attempt, r.delayMs])).toEqual([
        [2, 60],
        [3, 60],
      ]);
      expect(retrying[0]?.message).toContain("injected fault on call 1");
      for (const r of retrying) expect(r.gapMs).toBeGreaterThanOrEqual(r.delayMs - 5);
      expectApplied(await appliedDelays(api, run, "flaky-1", "m"), retrying);
    });
  });

  it("exponential with a cap: delays double up to max_backoff_ms, and attempts are honoured", async () => {
    await withRig([servo("flaky-2", { fail_first: { move: 10 } })], async (api) => {
      const retry = { attempts: 5, backoff_ms: 50, backoff: "exponential", max_backoff_ms: 200 };
      const run = await runToEnd(api.engine, doc("exponential", [{ ...move("m", "flaky-2", 10), retry }]));
      expect(run.status).toBe("failed");
      expect(run.nodes[0]).toMatchObject({ status: "failed", attempts: 5 });
      expect(run.error).toMatchObject({ code: "DEVICE_ERROR", nodeId: "m" });
      const { retrying, executions, failed } = await retries(api, run, "m");
      expect(executions).toBe(5);
      expect(failed).toBe(true);
      expect(retrying.map((r) => [r.attempt, r.delayMs])).toEqual([
        [2, 50],
        [3, 100],
        [4, 200],
        [5, 200],
      ]);
      for (const r of retrying) expect(r.gapMs).toBeGreaterThanOrEqual(r.delayMs - 5);
      expectApplied(await appliedDelays(api, run, "flaky-2", "m"), retrying);
    });
  });

  it("jitter: delays vary within [d/2, d] under the cap, and BullMQ waits exactly the delay announced", async () => {
    await withRig([servo("flaky-3", { fail_first: { move: 6 } })], async (api) => {
      const retry = {
        attempts: 7,
        backoff_ms: 40,
        backoff: "exponential",
        max_backoff_ms: 160,
        jitter: true,
      };
      const run = await runToEnd(api.engine, doc("jitter", [{ ...move("m", "flaky-3", 10), retry }]));
      expect(run.status).toBe("completed");
      expect(run.nodes[0]?.attempts).toBe(7);
      const { retrying } = await retries(api, run, "m");
      const unjittered = [40, 80, 160, 160, 160, 160];
      expect(retrying.map((r) => r.attempt)).toEqual([2, 3, 4, 5, 6, 7]);
      retrying.forEach((r, i) => {
        const d = unjittered[i] ?? 0;
        expect(r.delayMs).toBeGreaterThanOrEqual(d / 2);
        expect(r.delayMs).toBeLessThanOrEqual(Math.min(d, 160));
        expect(r.gapMs).toBeGreaterThanOrEqual(r.delayMs - 5);
      });
      // Six draws all landing on the top of their band would take odds of about 1 in 10^9.
      expect(retrying.some((r, i) => r.delayMs !== unjittered[i])).toBe(true);
      expectApplied(await appliedDelays(api, run, "flaky-3", "m"), retrying);
    });
  });

  it("an error no retry can help fails at once, whatever attempts says", async () => {
    await withRig([servo("servo-1")], async (api) => {
      const retry = { attempts: 5, backoff_ms: 10 };
      // A move out of range: the driver marks it not retryable.
      const far = await runToEnd(api.engine, doc("far", [{ ...move("far", "servo-1", 999), retry }]));
      // A move fed a boolean by an edge: its inputs fail the schema at run time (PARAMS_INVALID).
      const fed = await runToEnd(
        api.engine,
        doc(
          "fed",
          [
            { id: "probe", device_id: "servo-1", function_id: "status", params: {} },
            { id: "fed", device_id: "servo-1", function_id: "move", retry },
          ],
          [{ source: "probe", target: "fed", source_output: "homed", target_input: "position" }],
        ),
      );
      for (const [run, nodeId, code] of [
        [far, "far", "DEVICE_ERROR"],
        [fed, "fed", "PARAMS_INVALID"],
      ] as const) {
        expect(run.status).toBe("failed");
        expect(run.error).toMatchObject({ code, nodeId });
        expect(run.nodes.find((n) => n.nodeId === nodeId)).toMatchObject({ status: "failed", attempts: 1 });
        const { retrying, executions, failed } = await retries(api, run, nodeId);
        expect([retrying.length, executions, failed]).toEqual([0, 1, true]);
      }
    });
  });
});
