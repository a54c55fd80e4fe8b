import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestApi, servo } from "../support/context.js";
import { doc, home, move, seedDemo } from "../support/pipelines.js";

type Api = ReturnType<typeof createTestApi>;
let api: Api;

beforeAll(() => {
  api = createTestApi([servo("servo-1"), servo("servo-2")], { maxBodyBytes: 4096 });
});
afterAll(async () => {
  await api.close();
});

async function expectError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  const body = (await response.json()) as { error: { code: string; message: string; details: object } };
  expect(body.error.code).toBe(code);
  expect(body.error.message.length).toBeGreaterThan(5);
  expect(typeof body.error.details).toBe("object");
  return body.error;
}

describe("bad input gets a 4xx in the contract's shape", () => {
  it("malformed JSON: 400 BODY_INVALID_JSON", async () => {
    await expectError(await api.post("/api/runs", '{"pipeline": {'), 400, "BODY_INVALID_JSON");
  });

  it("wrong content type: 415", async () => {
    const response = await api.app.request("/api/pipelines/save", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify(seedDemo),
    });
    await expectError(response, 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  it("an oversized body: 413", async () => {
    const big = doc("big", [{ ...home("a", "servo-1"), params: {}, note: "x".repeat(10_000) }]);
    await expectError(await api.post("/api/pipelines/save", big), 413, "PAYLOAD_TOO_LARGE");
  });

  it("JSON nested deeper than anything can serialize: 400, not a crash", async () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    const body = `{"pipeline": {"id": "p", "nodes": [{"id": "a", "device_id": "servo-1", "function_id": "home", "params": {"x": ${deep}}}]}}`;
    const big = createTestApi([servo("servo-1")], { maxBodyBytes: 1024 * 1024 });
    try {
      await expectError(await big.post("/api/runs", body), 400, "VALIDATION_FAILED");
    } finally {
      await big.close();
    }
  });

  it("fields of the wrong type in a run request: 400", async () => {
    const error = await expectError(
      await api.post("/api/runs", { pipeline_id: 42 }),
      400,
      "VALIDATION_FAILED",
    );
    expect(error.message).toContain("pipeline_id");
  });

  it("both or neither of pipeline and pipeline_id: 400", async () => {
    await expectError(await api.post("/api/runs", {}), 400, "VALIDATION_FAILED");
    await expectError(
      await api.post("/api/runs", { pipeline_id: "x", pipeline: seedDemo }),
      400,
      "VALIDATION_FAILED",
    );
  });

  it("a pipeline with a cycle through the API: 400 naming the cycle", async () => {
    const cyclic = doc(
      "c",
      [home("a", "servo-1"), home("b", "servo-1")],
      [
        { source: "a", target: "b" },
        { source: "b", target: "a" },
      ],
    );
    const error = await expectError(await api.post("/api/runs", { pipeline: cyclic }), 400, "PIPELINE_CYCLE");
    expect(error.details).toHaveProperty("cycle");
  });

  it("an unknown device on save: 400, and nothing is stored", async () => {
    await expectError(
      await api.post("/api/pipelines/save", doc("bad", [home("a", "nope")])),
      400,
      "DEVICE_UNKNOWN",
    );
    await expectError(await api.get("/api/pipelines/bad"), 404, "PIPELINE_NOT_FOUND");
  });

  it("bad params in run-time overrides: 400", async () => {
    const response = await api.post("/api/runs", {
      pipeline: seedDemo,
      params: { node_2: { position: "x" } },
    });
    await expectError(response, 400, "PARAMS_INVALID");
  });

  it("run-time params for a node the pipeline lacks: 400", async () => {
    const response = await api.post("/api/runs", { pipeline: seedDemo, params: { node_9: { position: 1 } } });
    await expectError(response, 400, "VALIDATION_FAILED");
  });

  it("an unknown pipeline id: 404 on get, delete and run", async () => {
    await expectError(await api.get("/api/pipelines/nope"), 404, "PIPELINE_NOT_FOUND");
    await expectError(
      await api.app.request("/api/pipelines/nope", { method: "DELETE" }),
      404,
      "PIPELINE_NOT_FOUND",
    );
    await expectError(await api.post("/api/runs", { pipeline_id: "nope" }), 404, "PIPELINE_NOT_FOUND");
  });

  it("an unknown run id: 404 on every run route", async () => {
    await expectError(await api.get("/api/runs/run_nope"), 404, "RUN_NOT_FOUND");
    await expectError(await api.get("/api/runs/run_nope/events"), 404, "RUN_NOT_FOUND");
    await expectError(await api.post("/api/runs/run_nope/cancel", {}), 404, "RUN_NOT_FOUND");
    await expectError(await api.post("/api/runs/run_nope/retry", {}), 404, "RUN_NOT_FOUND");
    await expectError(await api.get(`/api/runs/${"x".repeat(300)}`), 404, "RUN_NOT_FOUND");
  });

  it("bad query parameters: 400", async () => {
    await expectError(await api.get("/api/runs?limit=0"), 400, "QUERY_INVALID");
    await expectError(await api.get("/api/runs?status=sleeping"), 400, "QUERY_INVALID");
    await expectError(await api.get("/api/runs?cursor=abc"), 400, "QUERY_INVALID");
    await expectError(await api.post("/api/pipelines/execute?timeout_s=-1", seedDemo), 400, "QUERY_INVALID");
  });

  it("an unknown route: 404 in the same shape", async () => {
    await expectError(await api.get("/api/nothing-here"), 404, "NOT_FOUND");
  });

  it("leaves no run, job or pipeline behind after all of the above", async () => {
    const runs = (await (await api.get("/api/runs")).json()) as { runs: unknown[] };
    expect(runs.runs).toEqual([]);
    const counts = await api.engine.queues.runs().getJobCounts();
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
    const pipelines = (await (await api.get("/api/pipelines")).json()) as { pipelines: unknown[] };
    expect(pipelines.pipelines).toEqual([]);
  });
});

describe("API_TOKEN", () => {
  it("guards /api/* when set, and leaves health open", async () => {
    const guarded = createTestApi([servo("servo-1")], { apiToken: "s3cret" });
    try {
      await expectError(await guarded.get("/api/runs"), 401, "UNAUTHORIZED");
      await expectError(
        await guarded.get("/api/runs", { authorization: "Bearer wrong" }),
        401,
        "UNAUTHORIZED",
      );
      expect((await guarded.get("/api/runs", { authorization: "Bearer s3cret" })).status).toBe(200);
      expect((await guarded.get("/api/runs?token=s3cret")).status).toBe(200);
      expect((await guarded.get("/healthz")).status).toBe(200);
      expect((await guarded.get("/readyz")).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});

describe("Idempotency-Key on POST /api/runs", () => {
  it("gives back the same run for the same key and body, and 409 for another body", async () => {
    const pipeline = doc("idem", [move("a", "servo-1", 10)]);
    const first = await api.post("/api/runs", { pipeline }, { "idempotency-key": "k-1" });
    expect(first.status).toBe(202);
    const { run_id: runId } = (await first.json()) as { run_id: string };
    const again = await api.post("/api/runs", { pipeline }, { "idempotency-key": "k-1" });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { run_id: string }).run_id).toBe(runId);
    const other = await api.post(
      "/api/runs",
      { pipeline: doc("idem", [move("a", "servo-1", 20)]) },
      { "idempotency-key": "k-1" },
    );
    await expectError(other, 409, "IDEMPOTENCY_KEY_REUSED");
  });
});
