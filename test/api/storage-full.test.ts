// A Redis out of memory (maxmemory, noeviction) refuses writes: changes are a clear 503
// STORAGE_FULL, never a 500, reads go on, and the API recovers without a restart.
import { afterEach, describe, expect, it } from "vitest";
import { startRedisServer, type RedisServerHandle } from "../../src/infra/redis-server.js";
import { createTestApi, servo } from "../support/context.js";
import { doc, home } from "../support/pipelines.js";

let server: RedisServerHandle | undefined;
let api: ReturnType<typeof createTestApi> | undefined;
afterEach(async () => {
  await api?.close();
  await server?.stop();
  api = undefined;
  server = undefined;
});

describe("a full Redis", () => {
  it("answers changes 503 STORAGE_FULL, keeps answering reads, and takes changes again once it has room", async () => {
    server = await startRedisServer();
    api = createTestApi([servo("servo-1")], { redisUrl: server.url });
    const pipeline = doc("p", [home("h", "servo-1")]);
    expect((await api.post("/api/pipelines/save", pipeline)).status).toBe(201);
    const first = (await (await api.post("/api/runs", { pipeline_id: "p" })).json()) as { run_id: string };

    // noeviction (as startRedisServer and docker-compose set it) and no room left.
    await api.redis.config("SET", "maxmemory", "1");
    for (const [path, body] of [
      ["/api/runs", { pipeline_id: "p" }],
      ["/api/pipelines/save", { ...pipeline, name: "changed" }],
      [`/api/runs/${first.run_id}/cancel`, {}],
    ] as const) {
      const response = await api.post(path, body);
      expect(response.status, path).toBe(503);
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      expect(error.code, path).toBe("STORAGE_FULL");
      expect(error.message).toMatch(/out of memory/);
    }
    expect((await api.get("/api/runs")).status).toBe(200);
    expect((await api.get(`/api/runs/${first.run_id}`)).status).toBe(200);
    expect((await api.get("/api/pipelines/p")).status).toBe(200);

    await api.redis.config("SET", "maxmemory", "0");
    expect((await api.post("/api/runs", { pipeline_id: "p" })).status).toBe(202);
  });

  it("lets a signed-in person read while it is full (a session is read without a MULTI)", async () => {
    server = await startRedisServer();
    const token = "operator-token-long-enough";
    api = createTestApi([servo("servo-1")], { redisUrl: server.url, apiToken: token });
    const login = await api.app.request("/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: "http://localhost" },
      body: new URLSearchParams({ token, next: "/" }).toString(),
    });
    expect(login.status).toBe(303);
    const cookie = /rigflow_session=[^;]+/.exec(login.headers.get("set-cookie") ?? "")?.[0] ?? "";
    expect(cookie).not.toBe("");
    await api.redis.config("SET", "maxmemory", "1");
    try {
      const read = await api.get("/api/runs", { cookie });
      expect(read.status).toBe(200);
      const change = await api.post(
        "/api/runs",
        { pipeline: doc("p", [home("h", "servo-1")]) },
        { cookie, origin: "http://localhost" },
      );
      expect(change.status).toBe(503);
    } finally {
      await api.redis.config("SET", "maxmemory", "0");
    }
  });
});
