import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { operations } from "../../src/api/openapi/operations.js";
import { errorResponse } from "../../src/api/openapi/responses.js";
import { errorCodes } from "../../src/engine/index.js";
import { servo, withRig } from "../support/context.js";
import { operationOf } from "../support/described-answers.js";
import { doc, move } from "../support/pipelines.js";

/** Routes that are pages or assets for a browser (the dashboard, Bull-board), not the API. */
const browserOnly = (path: string) =>
  path.startsWith("/admin/queues") ||
  path === "/dashboard/*" ||
  ["/", "/runs", "/runs/:runId", "/devices", "/pipelines", "/pipelines/:id", "/audit", "/docs"].includes(
    path,
  ) ||
  path.startsWith("/docs/");

const openApiPath = (path: string) => path.replace(/:(\w+)/g, "{$1}");

describe("the OpenAPI document (GET /openapi.json)", () => {
  it("describes every route the app serves, and only those", async () => {
    await withRig([servo("servo-1")], async (api) => {
      const served = new Set(
        api.app.routes
          .filter((route) => route.method !== "ALL" && !browserOnly(route.path))
          .map((route) => `${route.method.toLowerCase()} ${openApiPath(route.path)}`),
      );
      const described = new Set(operations.map((operation) => `${operation.method} ${operation.path}`));
      expect([...served].filter((route) => !described.has(route))).toEqual([]);
      expect([...described].filter((route) => !served.has(route))).toEqual([]);

      const response = await api.get("/openapi.json");
      expect(response.status).toBe(200);
      const document = (await response.json()) as {
        openapi: string;
        paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
        components: { securitySchemes: Record<string, unknown>; "x-error-codes": Record<string, unknown> };
      };
      expect(document.openapi).toBe("3.1.0");
      expect(Object.keys(document.components.securitySchemes).sort()).toEqual(["bearer", "session"]);
      expect(Object.keys(document.components["x-error-codes"]).sort()).toEqual(
        Object.keys(errorCodes).sort(),
      );
      for (const operation of operations) {
        expect(document.paths[operation.path]?.[operation.method]?.responses, operation.path).toHaveProperty(
          "default",
        );
      }
      const page = await api.get("/docs");
      expect(page.status).toBe(200);
      expect(await page.text()).toContain("/docs/assets/swagger-ui-dist/swagger-ui-bundle.js");
      const bundle = await api.get("/docs/assets/swagger-ui-dist/swagger-ui-bundle.js");
      expect(bundle.status).toBe(200);
      expect(bundle.headers.get("content-type")).toMatch(/javascript/);
    });
  });

  it("describes the answers a session of calls gets, errors included", async () => {
    await withRig([servo("servo-1", { speed: 1000 })], async (api) => {
      const seen: string[] = [];
      const check = async (method: string, url: string, response: Response) => {
        const operation = operationOf(method, url);
        expect(operation, `${method} ${url} is described`).toBeDefined();
        const body: unknown = await response.clone().json();
        const declared = operation?.responses[response.status];
        const schema = (response.status >= 400 ? errorResponse : declared) as z.ZodType | undefined;
        expect(schema, `${method} ${url} answers ${response.status}, which is described`).toBeDefined();
        const parsed = schema?.safeParse(body);
        expect(
          parsed?.success,
          `${method} ${url} ${response.status}: ${JSON.stringify(parsed?.error?.issues)}`,
        ).toBe(true);
        seen.push(`${method} ${operation?.path} ${response.status}`);
        return body as Record<string, unknown>;
      };
      const get = async (url: string) => check("GET", url, await api.get(url));
      const post = async (url: string, body: unknown) => check("POST", url, await api.post(url, body));

      const pipeline = doc(
        "described",
        [move("a", "servo-1", 10), move("b", "servo-1", 20)],
        [{ source: "a", target: "b" }],
      );
      await post("/api/pipelines/save", pipeline);
      await get("/api/pipelines");
      await get("/api/pipelines/described");
      await get("/api/pipelines/nope");
      const executed = await post("/api/pipelines/execute", pipeline);
      const runId = String(executed.run_id);
      await get("/api/runs");
      await get("/api/runs?status=waiting");
      await get(`/api/runs/${runId}`);
      await get(`/api/runs/${runId}/nodes`);
      await get(`/api/runs/${runId}/events`);
      await post(`/api/runs/${runId}/cancel`, {});
      await post(`/api/runs/${runId}/retry`, {});
      await post(`/api/runs/${runId}/pause`, {});
      await post(`/api/runs/${runId}/resume`, {});
      await post(`/api/runs/${runId}/nodes/a/recover`, { action: "retry" });
      await post(`/api/runs/${runId}/nodes/a/approve`, {});
      await post(`/api/runs/${runId}/nodes/a/reject`, {});
      await post("/api/runs", { pipeline_id: "described" });
      await post("/api/runs", { pipeline_id: "described", pipeline: pipeline });
      const asking = await post("/api/runs", {
        pipeline: doc("asks", [{ id: "ok", type: "approval", message: "Go?" }] as never),
      });
      await expect
        .poll(async () => (await api.engine.getRun(String(asking.run_id))).nodes[0]?.status, {
          timeout: 10_000,
          interval: 20,
        })
        .toBe("waiting");
      await get(`/api/runs/${String(asking.run_id)}`);
      await post(`/api/runs/${String(asking.run_id)}/nodes/ok/approve`, {});
      await get("/api/devices");
      await get("/api/functions");
      await get("/api/queues");
      await get("/api/queues/device-servo-1");
      await get("/api/queues/device-servo-1/jobs?state=completed");
      await get(`/api/queues/runs/jobs/${runId}`);
      await post("/api/queues/device-servo-1/pause", {});
      await post("/api/queues/device-servo-1/resume", {});
      await post("/api/queues/device-servo-1/clean", { state: "completed", grace_ms: 0 });
      await get("/api/me");
      await get("/healthz");
      await get("/readyz");
      await get(`/dashboard/api/runs/${runId}/graph`);
      expect(seen.length).toBeGreaterThan(30);
    });
  });
});
