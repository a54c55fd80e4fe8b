import { describe, expect, it } from "vitest";
import { servo, startTestServer } from "../support/context.js";
import { seedDemo } from "../support/pipelines.js";

describe("the API shutting down", () => {
  it("answers a request waiting for a run 202 with the run id at once, then closes", async () => {
    // No worker: the run stays queued, and execute would wait its full 60 s.
    const api = await startTestServer(`t${Date.now()}`, [servo("servo-1")]);
    let closed = false;
    try {
      const answer = fetch(`http://127.0.0.1:${api.port}/api/pipelines/execute`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(seedDemo),
      });
      await expect
        .poll(async () => (await api.engine.listRuns({ limit: 1 })).runs.length, {
          timeout: 5000,
          interval: 10,
        })
        .toBe(1);

      const closing = Date.now();
      const stopped = api.close().then(() => (closed = true));
      const response = await answer;
      expect(response.status).toBe(202);
      const body = (await response.json()) as { run_id: string; status: string };
      expect(body).toMatchObject({ status: "queued" });
      expect(body.run_id).toMatch(/\S/);
      await stopped;
      expect(Date.now() - closing).toBeLessThan(2000); // not a keep-alive timeout, nor execute's 60 s
    } finally {
      if (!closed) await api.close();
    }
  });
});
