// Access across every route group (api, sse, ws, dashboard, Bull-board, metrics): the Host and
// Origin checks, roles, sessions and the throttle on failed credentials, against a real API
// process's HTTP server and a real Redis (docs/contract.md, "Access").
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import type { AuditEntry } from "../../src/api/access/audit-log.js";
import type { AccessSettings } from "../../src/api/access/index.js";
import { SessionStore } from "../../src/api/access/sessions.js";
import type { ApiHandle } from "../../src/api/server.js";
import { createApp } from "../../src/api/app.js";
import { drivers } from "../../src/drivers/registry.js";
import { Redis } from "ioredis";
import { createCatalog, defaultLimits, Engine } from "../../src/engine/index.js";
import { newPrefix, quietLog, servo, startTestServer } from "../support/context.js";
import { doc, home } from "../support/pipelines.js";
import { headStatus, openStream, rawRequest, tryUpgrade } from "../support/raw-http.js";

const operatorToken = "operator-token-0123456789";
const viewerToken = "viewer-token-0123456789";
const adaToken = "ada-token-0123456789";
const bobToken = "bob-token-0123456789";
const sha = (text: string) => createHash("sha256").update(text).digest("hex");
const html = { accept: "text/html" };
const pipeline = doc("p1", [home("h", "servo-1")]);

const servers: ApiHandle[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rigflow-access-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function serve(
  access: Partial<AccessSettings>,
  tuning: { ws?: { heartbeatMs: number }; sse?: { keepAliveMs: number } } = {},
) {
  const server = await startTestServer(newPrefix(), [servo("servo-1")], { access, ...tuning });
  servers.push(server);
  return server;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const json = { "content-type": "application/json" };

/** Signs in with the form; the session cookie. */
async function signIn(port: number, token: string, headers: Record<string, string> = {}) {
  const response = await rawRequest(
    port,
    "POST",
    "/login",
    { "content-type": "application/x-www-form-urlencoded", ...headers },
    new URLSearchParams({ token, next: "/" }).toString(),
  );
  expect(response.status).toBe(303);
  const cookie = /rigflow_session=[^;]+/.exec(String(response.headers["set-cookie"]))?.[0];
  if (!cookie) throw new Error("no session cookie");
  return cookie;
}

/**
 * A read and (where the group has one) a change in each route group, with these headers: the
 * statuses and codes they get.
 */
async function everyGroup(server: ApiHandle, runId: string, headers: Record<string, string>) {
  const { port } = server;
  const origin = { origin: `http://127.0.0.1:${port}` };
  const read = async (path: string, extra: Record<string, string> = {}) => {
    const response = await rawRequest(port, "GET", path, { ...headers, ...extra });
    return `${response.status}${response.code ? ` ${response.code}` : ""}`;
  };
  const change = async (method: string, path: string, body?: string) => {
    const response = await rawRequest(port, method, path, { ...headers, ...origin, ...json }, body);
    if (response.status === 200 || response.status === 201) return "2xx"; // saved, or unchanged
    return `${response.status}${response.code ? ` ${response.code}` : ""}`;
  };
  const sse = await headStatus(port, `/api/runs/${runId}/events/stream`, headers);
  const ws = await tryUpgrade(port, { ...headers, ...origin });
  return {
    "api read": await read("/api/runs"),
    "api change": await change("POST", "/api/pipelines/save", JSON.stringify(pipeline)),
    "queue action": await change("POST", "/api/queues/device-servo-1/pause"),
    sse: String(sse.status),
    ws: `${ws.status}${ws.code ? ` ${ws.code}` : ""}`,
    dashboard: await read("/runs", html),
    "bull-board read": await read("/admin/queues/api/queues"),
    "bull-board change": await change("PUT", "/admin/queues/api/queues/device-servo-1/pause"),
    metrics: await read("/metrics"),
    audit: await read("/api/audit"),
  };
}

describe("roles", () => {
  it("an operator changes things, a viewer reads everything and changes nothing, in every route group", async () => {
    writeFileSync(
      join(dir, "tokens.json"),
      JSON.stringify({
        tokens: [
          { name: "ada", role: "operator", sha256: sha(adaToken) },
          { name: "bob", role: "viewer", sha256: sha(bobToken).toUpperCase() },
        ],
      }),
    );
    const server = await serve({
      apiToken: operatorToken,
      readToken: viewerToken,
      tokensFile: join(dir, "tokens.json"),
    });
    const { runId } = await server.engine.submitRun({ document: pipeline });
    // Bull-board is read-only for everyone (a raw action would bypass the run ledger): 405.
    const operator = {
      "api read": "200",
      "api change": "2xx",
      "queue action": "2xx",
      sse: "200",
      ws: "101",
      dashboard: "200",
      "bull-board read": "200",
      "bull-board change": "405",
      metrics: "200",
      audit: "200",
    };
    const viewer = {
      ...operator,
      "api change": "403 FORBIDDEN",
      "queue action": "403 FORBIDDEN",
      "bull-board change": "403 FORBIDDEN",
      audit: "403 FORBIDDEN",
    };
    expect(await everyGroup(server, runId, bearer(operatorToken))).toEqual(operator);
    expect(await everyGroup(server, runId, bearer(adaToken))).toEqual(operator);
    expect(await everyGroup(server, runId, bearer(viewerToken))).toEqual(viewer);
    expect(await everyGroup(server, runId, bearer(bobToken))).toEqual(viewer);
    // On a session, the role is the token's.
    const bobSession = await signIn(server.port, bobToken);
    expect(await everyGroup(server, runId, { cookie: bobSession })).toEqual(viewer);
    // No credential: 401 everywhere but /metrics (open, like the health endpoints).
    const none = await everyGroup(server, runId, {});
    expect(none).toEqual({
      "api read": "401 UNAUTHORIZED",
      "api change": "401 UNAUTHORIZED",
      "queue action": "401 UNAUTHORIZED",
      sse: "401",
      ws: "401 UNAUTHORIZED",
      dashboard: "401",
      "bull-board read": "401 UNAUTHORIZED",
      "bull-board change": "401 UNAUTHORIZED",
      metrics: "200",
      audit: "401 UNAUTHORIZED",
    });
    // The viewer's attempts changed nothing.
    expect(await server.engine.queues.device("servo-1").isPaused()).toBe(true); // the operator's pause
    const me = await rawRequest(server.port, "GET", "/api/me", { cookie: bobSession });
    expect(JSON.parse(me.text)).toEqual({ actor: "bob", role: "viewer", via: "session" });
  });

  it("refuses to start on a tokens file that is not what the contract says, naming the fault", async () => {
    writeFileSync(
      join(dir, "bad.json"),
      JSON.stringify({ tokens: [{ name: "eve", role: "admin", sha256: "x" }] }),
    );
    await expect(serve({ tokensFile: join(dir, "bad.json") })).rejects.toThrow(
      /API_TOKENS_FILE .*tokens\.0\.role/,
    );
  });
});

describe("sessions", () => {
  it("a random session id in Redis (only its hash), revoked at once by sign-out, in every route group", async () => {
    const server = await serve({ apiToken: operatorToken });
    const { runId } = await server.engine.submitRun({ document: pipeline });
    const cookie = await signIn(server.port, operatorToken);
    const id = cookie.split("=")[1] ?? "";
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await signIn(server.port, operatorToken)).not.toBe(cookie);
    // Redis holds the id's hash, never the id (a dump of Redis opens no session).
    const redis = server.engine.redis;
    const keys = await redis.keys(`${server.engine.keys.session("*")}`);
    expect(keys).toContain(server.engine.keys.session(sha(id)));
    for (const key of keys) expect(key).not.toContain(id);
    const ttl = await redis.ttl(server.engine.keys.session(sha(id)));
    expect(ttl).toBeGreaterThan(28_700);
    expect(ttl).toBeLessThanOrEqual(28_800);

    const signedIn = await everyGroup(server, runId, { cookie });
    expect(signedIn.ws).toBe("101");
    expect(signedIn["api change"]).toBe("2xx");
    // A live WebSocket on the session, to see it closed when the session ends.
    const out = await rawRequest(server.port, "POST", "/logout", {
      cookie,
      origin: `http://127.0.0.1:${server.port}`,
    });
    expect(out.status).toBe(303);
    expect(String(out.headers["set-cookie"])).toMatch(/rigflow_session=;/);
    expect(await redis.exists(server.engine.keys.session(sha(id)))).toBe(0);
    const after = await everyGroup(server, runId, { cookie });
    expect(after).toMatchObject({
      "api read": "401 UNAUTHORIZED",
      "api change": "401 UNAUTHORIZED",
      sse: "401",
      ws: "401 UNAUTHORIZED",
      dashboard: "401",
      "bull-board read": "401 UNAUTHORIZED",
    });
    const message = await rawRequest(server.port, "GET", "/api/runs", { cookie });
    expect(message.text).toContain("the session has ended");
  });

  it("ends a WebSocket and an SSE stream opened on a session when the session is signed out", async () => {
    const server = await serve(
      { apiToken: operatorToken },
      { ws: { heartbeatMs: 300 }, sse: { keepAliveMs: 200 } },
    );
    const { runId } = await server.engine.submitRun({ document: pipeline }); // queued: no worker
    const cookie = await signIn(server.port, operatorToken);
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}/ws`, {
      headers: { cookie, origin: `http://127.0.0.1:${server.port}` },
    });
    await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
    const socketClosed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
    const stream = await openStream(server.port, `/api/runs/${runId}/events/stream`, { cookie });
    expect(stream.status).toBe(200);
    await rawRequest(server.port, "POST", "/logout", { cookie, origin: `http://127.0.0.1:${server.port}` });
    expect(await socketClosed).toBe(1008);
    await stream.ended;
    // A stream opened with a token is not a session's: it stays.
    const withToken = await openStream(
      server.port,
      `/api/runs/${runId}/events/stream`,
      bearer(operatorToken),
    );
    expect(withToken.status).toBe(200);
    withToken.cut();
  });

  it("ends after SESSION_IDLE_S without use and after SESSION_MAX_S whatever the use", async () => {
    const server = await serve({ apiToken: operatorToken, sessionIdleS: 1, sessionMaxS: 3600 });
    const cookie = await signIn(server.port, operatorToken);
    const key = server.engine.keys.session(sha(cookie.split("=")[1] ?? ""));
    expect((await rawRequest(server.port, "GET", "/api/runs", { cookie })).status).toBe(200);
    // Unused, it is gone once its idle second has passed (Redis expires it).
    await expect.poll(() => server.engine.redis.exists(key), { timeout: 5000, interval: 100 }).toBe(0);
    expect((await rawRequest(server.port, "GET", "/api/runs", { cookie })).status).toBe(401);

    // In use all along, it still ends at its absolute expiry: here, a session signed in an hour ago.
    const busy = await signIn(server.port, operatorToken);
    const busyKey = server.engine.keys.session(sha(busy.split("=")[1] ?? ""));
    expect((await rawRequest(server.port, "GET", "/api/runs", { cookie: busy })).status).toBe(200);
    await server.engine.redis.hset(busyKey, "created", Date.now() - 3600_000 - 1);
    expect((await rawRequest(server.port, "GET", "/api/runs", { cookie: busy })).status).toBe(401);
    expect(await server.engine.redis.exists(busyKey)).toBe(0);
  });

  it("ends every session of a token removed from API_TOKENS_FILE, and a token whose role changes changes its sessions' role", async () => {
    const file = join(dir, "live-tokens.json");
    const write = (tokens: unknown[]) => writeFileSync(file, JSON.stringify({ tokens }));
    write([
      { name: "ada", role: "operator", sha256: sha(adaToken) },
      { name: "bob", role: "operator", sha256: sha(bobToken) },
    ]);
    const server = await serve({ tokensFile: file });
    const ada = await signIn(server.port, adaToken);
    const bob = await signIn(server.port, bobToken);
    const me = async (cookie: string) => {
      const response = await rawRequest(server.port, "GET", "/api/me", { cookie });
      return response.status === 200 ? (JSON.parse(response.text) as { role: string }).role : response.code;
    };
    expect(await me(ada)).toBe("operator");
    write([{ name: "bob", role: "viewer", sha256: sha(bobToken) }]);
    await expect.poll(() => me(ada), { timeout: 5000, interval: 100 }).toBe("UNAUTHORIZED");
    expect(await me(bob)).toBe("viewer");
    expect((await rawRequest(server.port, "GET", "/api/runs", bearer(adaToken))).status).toBe(401);
    // A file that no longer parses accepts none of its tokens (fail closed), until it is fixed.
    writeFileSync(file, "{ not json");
    await expect.poll(() => me(bob), { timeout: 5000, interval: 100 }).toBe("UNAUTHORIZED");
  });
});

describe("throttling failed credentials", () => {
  it("past 10 failures a minute from one address, every route group answers 429 RATE_LIMITED with Retry-After, right token or wrong", async () => {
    const server = await serve({ apiToken: operatorToken, trustedProxies: ["loopback"] });
    const { port } = server;
    let n = 0;
    /** A fresh client address (behind the trusted proxy), its 10 allowed failures used up in `fail`. */
    const exhaust = async (fail: (address: Record<string, string>) => Promise<number>) => {
      n += 1;
      const address = { "x-forwarded-for": `10.0.0.${n}` };
      for (let i = 0; i < 10; i += 1) expect(await fail(address)).toBe(401);
      return address;
    };
    const failures: Record<string, (address: Record<string, string>) => Promise<number>> = {
      api: async (a) => (await rawRequest(port, "GET", "/api/runs", { ...a, ...bearer("wrong") })).status,
      sse: async (a) => (await headStatus(port, "/api/runs/run_x/events/stream?token=wrong", a)).status,
      ws: async (a) => (await tryUpgrade(port, a, "?token=wrong")).status,
      dashboard: async (a) => (await rawRequest(port, "GET", "/runs?token=wrong", { ...a, ...html })).status,
      "bull-board": async (a) => (await rawRequest(port, "GET", "/admin/queues?token=wrong", a)).status,
      "sign-in": async (a) =>
        (
          await rawRequest(
            port,
            "POST",
            "/login",
            { ...a, "content-type": "application/x-www-form-urlencoded" },
            "token=wrong&next=/",
          )
        ).status,
    };
    for (const [group, fail] of Object.entries(failures)) {
      const address = await exhaust(fail);
      // The right token, from the throttled address, in each group: refused unread.
      const api = await rawRequest(port, "GET", "/api/runs", { ...address, ...bearer(operatorToken) });
      expect(api.status, group).toBe(429);
      expect(api.code, group).toBe("RATE_LIMITED");
      expect(Number(api.headers["retry-after"]), group).toBeGreaterThan(0);
      expect(Number(api.headers["retry-after"]), group).toBeLessThanOrEqual(60);
      const ws = await tryUpgrade(port, address, `?token=${operatorToken}`);
      expect(ws.status, group).toBe(429);
      expect(Number(ws.retryAfter), group).toBeGreaterThan(0);
      expect(
        (await headStatus(port, `/api/runs/run_x/events/stream?token=${operatorToken}`, address)).status,
      ).toBe(429);
      const page = await rawRequest(port, "GET", `/runs?token=${operatorToken}`, { ...address, ...html });
      expect(page.status, group).toBe(429);
      expect(page.text, group).toContain("too many failed sign-ins");
      expect(
        (await rawRequest(port, "GET", `/admin/queues/api/queues?token=${operatorToken}`, address)).status,
      ).toBe(429);
      const signInForm = await rawRequest(
        port,
        "POST",
        "/login",
        { ...address, "content-type": "application/x-www-form-urlencoded" },
        `token=${operatorToken}&next=/`,
      );
      expect(signInForm.status, group).toBe(429);
      expect(signInForm.headers["retry-after"], group).toBeDefined();
    }
    // Other addresses are not held back; a request without credentials is not a failure; /metrics is open.
    expect(
      (
        await rawRequest(port, "GET", "/api/runs", {
          "x-forwarded-for": "10.1.0.1",
          ...bearer(operatorToken),
        })
      ).status,
    ).toBe(200);
    for (let i = 0; i < 12; i += 1) {
      expect((await rawRequest(port, "GET", "/api/runs", { "x-forwarded-for": "10.1.0.2" })).status).toBe(
        401,
      );
    }
    expect(
      (
        await rawRequest(port, "GET", "/api/runs", {
          "x-forwarded-for": "10.1.0.2",
          ...bearer(operatorToken),
        })
      ).status,
    ).toBe(200);
    expect((await rawRequest(port, "GET", "/metrics", { "x-forwarded-for": "10.0.0.1" })).status).toBe(200);
  });
});

describe("origins and hosts", () => {
  it("refuses a change or /ws from another origin in every mode, and takes ALLOWED_ORIGINS", async () => {
    for (const access of [{}, { apiToken: operatorToken }]) {
      const server = await serve({ ...access, allowedOrigins: ["https://lab-portal.example"] });
      const { port } = server;
      const auth = "apiToken" in access ? bearer(operatorToken) : {};
      for (const origin of [
        "http://evil.example",
        `http://127.0.0.1:${port + 1}`,
        "null",
        `http://localhost.evil.example:${port}`,
      ]) {
        const save = await rawRequest(
          port,
          "POST",
          "/api/pipelines/save",
          { ...auth, ...json, origin },
          JSON.stringify(pipeline),
        );
        expect(save.code, origin).toBe("ORIGIN_FORBIDDEN");
        expect(save.status).toBe(403);
        // A form post (the CSRF classic), and one with no body at all.
        const form = await rawRequest(
          port,
          "POST",
          "/api/pipelines/save",
          { ...auth, origin, "content-type": "text/plain" },
          JSON.stringify(pipeline),
        );
        expect(form.code).toBe("ORIGIN_FORBIDDEN");
        expect(
          (await rawRequest(port, "POST", "/api/queues/device-servo-1/pause", { ...auth, origin })).code,
        ).toBe("ORIGIN_FORBIDDEN");
        expect(await tryUpgrade(port, { ...auth, origin })).toEqual({
          status: 403,
          code: "ORIGIN_FORBIDDEN",
        });
        // Sign-in from another site is refused too (login CSRF).
        const signInForm = await rawRequest(
          port,
          "POST",
          "/login",
          { origin, "content-type": "application/x-www-form-urlencoded" },
          `token=${operatorToken}`,
        );
        expect(signInForm.code).toBe("ORIGIN_FORBIDDEN");
      }
      // A browser that names no Origin but says another site sent it.
      const crossSite = await rawRequest(port, "POST", "/api/queues/device-servo-1/pause", {
        ...auth,
        "sec-fetch-site": "cross-site",
      });
      expect(crossSite.code).toBe("ORIGIN_FORBIDDEN");
      expect(await server.engine.queues.device("servo-1").isPaused()).toBe(false);
      expect(await server.engine.listPipelines()).toEqual([]);
      // The server's own origin, an allowed one, and none (scripts, the CLI) pass.
      for (const origin of [
        `http://127.0.0.1:${port}`,
        `http://localhost:${port}`,
        "https://lab-portal.example",
      ]) {
        const host = origin.startsWith("https://lab") ? `127.0.0.1:${port}` : origin.slice(7);
        const save = await rawRequest(
          port,
          "POST",
          "/api/pipelines/save",
          { ...auth, ...json, origin, host },
          JSON.stringify(pipeline),
        );
        expect(save.status, origin).toBeLessThan(300);
        expect(await tryUpgrade(port, { ...auth, origin, host }), origin).toEqual({ status: 101 });
      }
      expect(
        (
          await rawRequest(
            port,
            "POST",
            "/api/pipelines/save",
            { ...auth, ...json },
            JSON.stringify(pipeline),
          )
        ).status,
      ).toBeLessThan(300);
    }
  });

  it("without a token answers only loopback Host names (and ALLOWED_HOSTS): a rebinding page gets 403 HOST_FORBIDDEN everywhere", async () => {
    const server = await serve({ allowedHosts: ["bench-pc.lab"] });
    const { port } = server;
    const { runId } = await server.engine.submitRun({ document: pipeline });
    for (const host of [
      `attacker.example:${port}`,
      "attacker.example",
      `127.0.0.1.nip.io:${port}`,
      `localhost.:${port}`,
    ]) {
      const groups = await everyGroup(server, runId, { host });
      expect(
        Object.values(groups).every((outcome) => /^403( HOST_FORBIDDEN)?$/.test(outcome)),
        `${host}: ${JSON.stringify(groups)}`,
      ).toBe(true);
    }
    for (const host of [
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      "LOCALHOST",
      `bench-pc.lab:${port}`,
    ]) {
      expect((await rawRequest(port, "GET", "/api/runs", { host })).status, host).toBe(200);
    }
    // Probes stay open.
    expect((await rawRequest(port, "GET", "/healthz", { host: "attacker.example" })).status).toBe(200);
    // With a token, the token is the guard: any Host.
    const guarded = await serve({ apiToken: operatorToken });
    expect(
      (
        await rawRequest(guarded.port, "GET", "/api/runs", {
          host: "rigflow.lab.example",
          ...bearer(operatorToken),
        })
      ).status,
    ).toBe(200);
  });
});

describe("audit log", () => {
  it("records every change and refusal with actor, role, address, action, target and outcome; operators page through it", async () => {
    writeFileSync(
      join(dir, "audit-tokens.json"),
      JSON.stringify({
        tokens: [
          { name: "ada", role: "operator", sha256: sha(adaToken) },
          { name: "bob", role: "viewer", sha256: sha(bobToken) },
        ],
      }),
    );
    const server = await serve({ tokensFile: join(dir, "audit-tokens.json"), trustedProxies: ["loopback"] });
    const { port } = server;
    const ada = { ...bearer(adaToken), "x-forwarded-for": "10.2.0.1" };
    const post = (path: string, headers: Record<string, string>, body?: unknown) =>
      rawRequest(
        port,
        "POST",
        path,
        { ...json, ...headers },
        body === undefined ? undefined : JSON.stringify(body),
      );
    expect((await post("/api/pipelines/save", ada, pipeline)).status).toBe(201);
    const submitted = await post("/api/runs", ada, { pipeline_id: "p1" });
    const runId = (JSON.parse(submitted.text) as { run_id: string }).run_id;
    // Operator control (no worker here: the run stays queued, pausing).
    expect((await post(`/api/runs/${runId}/pause`, ada, { mode: "deferred" })).status).toBe(202);
    expect((await post(`/api/runs/${runId}/resume`, ada)).code).toBe("RUN_NOT_PAUSED");
    expect((await post(`/api/runs/${runId}/nodes/h/recover`, ada, { action: "retry" })).code).toBe(
      "NODE_NOT_HELD",
    );
    expect((await post(`/api/runs/${runId}/nodes/h/approve`, ada, { outputs: {} })).code).toBe(
      "NODE_NOT_WAITING",
    );
    expect((await post(`/api/runs/${runId}/nodes/h/reject`, ada, { reason: "no" })).code).toBe(
      "NODE_NOT_WAITING",
    );
    expect((await post(`/api/runs/${runId}/cancel`, ada)).status).toBeLessThan(300);
    expect((await post("/api/runs/run_nope/cancel", ada)).code).toBe("RUN_NOT_FOUND");
    expect((await post("/api/queues/device-servo-1/pause", ada)).status).toBe(200);
    expect((await post("/api/queues/device-servo-1/resume", ada)).status).toBe(200);
    expect((await rawRequest(port, "DELETE", "/api/pipelines/p1", ada)).status).toBeLessThan(300);
    const bob = await signIn(port, bobToken, { "x-forwarded-for": "10.2.0.2" });
    expect(
      (
        await post("/api/queues/device-servo-1/pause", {
          cookie: bob,
          origin: `http://127.0.0.1:${port}`,
          "x-forwarded-for": "10.2.0.2",
        })
      ).code,
    ).toBe("FORBIDDEN");
    expect(
      (
        await rawRequest(port, "POST", "/logout", {
          cookie: bob,
          origin: `http://127.0.0.1:${port}`,
          "x-forwarded-for": "10.2.0.2",
        })
      ).status,
    ).toBe(303);
    expect(
      (await post("/api/runs", { ...ada, origin: "http://evil.example" }, { pipeline_id: "p1" })).code,
    ).toBe("ORIGIN_FORBIDDEN");
    expect(
      (await rawRequest(port, "GET", "/api/runs", { ...bearer("guess"), "x-forwarded-for": "10.2.0.3" }))
        .status,
    ).toBe(401);
    // Reading without credentials (a browser before sign-in) is not worth a line; reads are not recorded.
    expect((await rawRequest(port, "GET", "/api/runs", {})).status).toBe(401);

    const all = await rawRequest(port, "GET", "/api/audit?limit=1000", bearer(adaToken));
    const { entries, next_after } = JSON.parse(all.text) as {
      entries: AuditEntry[];
      next_after: string | null;
    };
    const lines = entries.map(({ actor, role, address, action, target, outcome }) =>
      [actor, role, address, action, target, outcome].join(" | "),
    );
    expect(lines).toEqual([
      "ada | operator | 10.2.0.1 | pipeline.save | p1 | ok",
      `ada | operator | 10.2.0.1 | run.submit | ${runId} | ok`,
      `ada | operator | 10.2.0.1 | run.pause | ${runId} | ok`,
      `ada | operator | 10.2.0.1 | run.resume | ${runId} | RUN_NOT_PAUSED`,
      `ada | operator | 10.2.0.1 | node.recover | ${runId}/h | NODE_NOT_HELD`,
      `ada | operator | 10.2.0.1 | node.approve | ${runId}/h | NODE_NOT_WAITING`,
      `ada | operator | 10.2.0.1 | node.reject | ${runId}/h | NODE_NOT_WAITING`,
      `ada | operator | 10.2.0.1 | run.cancel | ${runId} | ok`,
      "ada | operator | 10.2.0.1 | run.cancel | run_nope | RUN_NOT_FOUND",
      "ada | operator | 10.2.0.1 | queue.pause | device-servo-1 | ok",
      "ada | operator | 10.2.0.1 | queue.resume | device-servo-1 | ok",
      "ada | operator | 10.2.0.1 | pipeline.delete | p1 | ok",
      "bob | viewer | 10.2.0.2 | session.sign_in |  | ok",
      "bob | viewer | 10.2.0.2 | queue.pause | device-servo-1 | FORBIDDEN",
      "bob | viewer | 10.2.0.2 | session.sign_out |  | ok",
      "anonymous | none | 10.2.0.1 | run.submit |  | ORIGIN_FORBIDDEN",
      "anonymous | none | 10.2.0.3 | read | /api/runs | UNAUTHORIZED",
    ]);
    expect(next_after).toBe(entries.at(-1)?.audit_id);
    for (const entry of entries) expect(Date.parse(entry.at)).toBeGreaterThan(Date.now() - 60_000);
    // Paging: after= and limit=, oldest first, the same entries.
    const paged: string[] = [];
    let after = "";
    for (;;) {
      const page = JSON.parse(
        (
          await rawRequest(
            port,
            "GET",
            `/api/audit?limit=5${after ? `&after=${after}` : ""}`,
            bearer(adaToken),
          )
        ).text,
      ) as {
        entries: { audit_id: string }[];
        next_after: string | null;
      };
      paged.push(...page.entries.map((entry) => entry.audit_id));
      if (page.entries.length < 5) break;
      after = page.next_after ?? "";
    }
    expect(paged).toEqual(entries.map((entry) => entry.audit_id));
    // Operators only; a bad cursor is a 400 in the contract's shape.
    expect((await rawRequest(port, "GET", "/api/audit", bearer(bobToken))).code).toBe("FORBIDDEN");
    expect((await rawRequest(port, "GET", "/api/audit?after=nope", bearer(adaToken))).code).toBe(
      "QUERY_INVALID",
    );
  });
});

describe("with Redis unreachable", () => {
  it("answers 503 where a session or the change needs Redis, never 500, and still throttles guesses (in memory)", async () => {
    // No offline queue: each command fails at once, as it would once the API's retries ran out.
    const redis = new Redis({
      host: "127.0.0.1",
      port: 1,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    redis.on("error", () => undefined);
    const engine = new Engine(
      redis,
      "dead",
      createCatalog([servo("servo-1")], drivers.values()),
      defaultLimits,
    );
    const app = createApp({ engine, log: quietLog, maxBodyBytes: 1024 * 1024, apiToken: operatorToken });
    try {
      const session = await app.request("/api/runs", {
        headers: { cookie: `rigflow_session=${"C".repeat(43)}` },
      });
      expect(session.status).toBe(503);
      expect(((await session.json()) as { error: { code: string } }).error.code).toBe("REDIS_UNAVAILABLE");
      expect((await app.request("/api/runs", { headers: bearer(operatorToken) })).status).toBe(503);
      const signInForm = await app.request("/login", {
        method: "POST",
        body: new URLSearchParams({ token: operatorToken, next: "/" }),
      });
      expect(signInForm.status).toBe(503);
      for (let i = 0; i < 10; i += 1) {
        expect((await app.request("/api/runs", { headers: bearer("guess") })).status).toBe(401);
      }
      const throttled = await app.request("/api/runs", { headers: bearer(operatorToken) });
      expect(throttled.status).toBe(429);
      expect(throttled.headers.get("retry-after")).toMatch(/^\d+$/);
    } finally {
      await engine.close();
      redis.disconnect();
    }
  });
});

describe("what a security review found", () => {
  it("ends a WebSocket and an SSE stream opened with a token once the token is removed from API_TOKENS_FILE", async () => {
    const file = join(dir, "stream-tokens.json");
    writeFileSync(file, JSON.stringify({ tokens: [{ name: "ada", role: "viewer", sha256: sha(adaToken) }] }));
    const server = await serve({ tokensFile: file }, { ws: { heartbeatMs: 300 }, sse: { keepAliveMs: 200 } });
    const { runId } = await server.engine.submitRun({ document: pipeline });
    const socket = new WebSocket(`ws://127.0.0.1:${server.port}/ws`, { headers: bearer(adaToken) });
    await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
    const socketClosed = new Promise<number>((resolve) => socket.once("close", (code) => resolve(code)));
    const stream = await openStream(server.port, `/api/runs/${runId}/events/stream`, bearer(adaToken));
    expect(stream.status).toBe(200);
    writeFileSync(file, JSON.stringify({ tokens: [] }));
    expect(await socketClosed).toBe(1008);
    await stream.ended;
  });

  it("does not read a ?token= another site's page sent: no lock-out by <img> tags, no signing a visitor in as someone else", async () => {
    const server = await serve({ apiToken: operatorToken, readToken: viewerToken });
    const { port } = server;
    const crossSite = { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors" };
    for (let i = 0; i < 12; i += 1) {
      expect((await rawRequest(port, "GET", "/api/me?token=wrong", crossSite)).status).toBe(401);
    }
    expect((await rawRequest(port, "GET", "/api/me", bearer(operatorToken))).status).toBe(200);
    // A signed-in operator sent to /runs?token=<viewer's> by another site stays who they are.
    const cookie = await signIn(port, operatorToken);
    const navigation = await rawRequest(port, "GET", `/runs?token=${viewerToken}`, {
      cookie,
      ...html,
      "sec-fetch-site": "cross-site",
      "sec-fetch-mode": "navigate",
    });
    expect(navigation.status).toBe(200);
    expect(navigation.headers["set-cookie"]).toBeUndefined();
    expect(JSON.parse((await rawRequest(port, "GET", "/api/me", { cookie })).text)).toMatchObject({
      role: "operator",
    });
    // Typed into the address bar (Sec-Fetch-Site: none), the same link signs in.
    const typed = await rawRequest(port, "GET", `/runs?token=${viewerToken}`, {
      ...html,
      "sec-fetch-site": "none",
    });
    expect(typed.status).toBe(303);
    expect(String(typed.headers["set-cookie"])).toMatch(/rigflow_session=/);
  });

  it("bounds sign-ins per token (10 a minute) and sessions per token (50): no token can flood Redis or the audit log", async () => {
    const server = await serve({ apiToken: operatorToken, readToken: viewerToken });
    const { port } = server;
    const sessions = redisSessions(server);
    // Reloading a ?token= link with the session it made makes no new one.
    const first = await rawRequest(port, "GET", `/runs?token=${viewerToken}`, html);
    const cookie = /rigflow_session=[^;]+/.exec(String(first.headers["set-cookie"]))?.[0] ?? "";
    for (let i = 0; i < 5; i += 1) {
      const again = await rawRequest(port, "GET", `/runs?token=${viewerToken}`, { ...html, cookie });
      expect(again.status).toBe(303);
      expect(again.headers["set-cookie"]).toBeUndefined();
    }
    expect(await sessions()).toBe(1);
    for (let i = 0; i < 9; i += 1) await signIn(port, viewerToken);
    const eleventh = await rawRequest(
      port,
      "POST",
      "/login",
      { "content-type": "application/x-www-form-urlencoded" },
      `token=${viewerToken}&next=/`,
    );
    expect(eleventh.status).toBe(429);
    expect(Number(eleventh.headers["retry-after"])).toBeGreaterThan(0);
    expect(await sessions()).toBe(10);
    // Each is audited once answered: the last may be written a moment after its answer.
    const signIns = async () => {
      const { entries } = JSON.parse(
        (await rawRequest(port, "GET", "/api/audit?limit=1000", bearer(operatorToken))).text,
      ) as { entries: AuditEntry[] };
      return entries.filter((entry) => entry.action === "session.sign_in" && entry.outcome === "ok").length;
    };
    await expect.poll(signIns, { timeout: 5000 }).toBe(10);
    // The operator's own sign-ins are counted apart.
    await signIn(port, operatorToken);

    // The cap, through the store itself (the per-minute limit keeps HTTP from reaching it quickly):
    // the 51st and 52nd sessions of a credential end its two oldest.
    const store = new SessionStore(server.engine.redis, server.engine.keys, { idleS: 600, maxS: 3600 });
    const ids: string[] = [];
    for (let i = 0; i < 52; i += 1) ids.push(await store.create("cap-test"));
    expect(await store.peek(ids[0] ?? "")).toBeNull();
    expect(await store.peek(ids[1] ?? "")).toBeNull();
    expect(await store.peek(ids[2] ?? "")).not.toBeNull();
    expect(await server.engine.redis.zcard(server.engine.keys.credentialSessions("cap-test"))).toBe(50);
    await store.revoke(ids[51] ?? "");
    expect(await server.engine.redis.zcard(server.engine.keys.credentialSessions("cap-test"))).toBe(49);
  });

  it("believes X-Forwarded-For only from the proxies in TRUST_PROXY: a client on the port itself cannot name its address", async () => {
    const server = await serve({ apiToken: operatorToken, trustedProxies: ["10.9.9.9"] });
    const { port } = server;
    for (let i = 0; i < 10; i += 1) {
      const guess = await rawRequest(port, "GET", "/api/runs", {
        ...bearer("wrong"),
        "x-forwarded-for": `10.0.0.${i}`,
      });
      expect(guess.status).toBe(401);
    }
    const blocked = await rawRequest(port, "GET", "/api/runs", {
      ...bearer(operatorToken),
      "x-forwarded-for": "10.0.1.1",
    });
    expect(blocked.code).toBe("RATE_LIMITED");
  });
});

/** Counts the live dashboard sessions of a server's prefix. */
function redisSessions(server: ApiHandle) {
  return async () => (await server.engine.redis.keys(server.engine.keys.session("*"))).length;
}

describe("RATE_LIMIT_PER_MIN", () => {
  it("refuses a client's changes past the limit with 429 RATE_LIMITED and Retry-After, per client, reads untouched", async () => {
    writeFileSync(
      join(dir, "rate-tokens.json"),
      JSON.stringify({
        tokens: [
          { name: "ada", role: "operator", sha256: sha(adaToken) },
          { name: "bob", role: "operator", sha256: sha(bobToken) },
        ],
      }),
    );
    const server = await serve({ tokensFile: join(dir, "rate-tokens.json"), changesPerMinute: 5 });
    const save = (token: string) =>
      rawRequest(
        server.port,
        "POST",
        "/api/pipelines/save",
        { ...bearer(token), ...json },
        JSON.stringify(pipeline),
      );
    for (let i = 0; i < 5; i += 1) expect((await save(adaToken)).status).toBeLessThan(300);
    const over = await save(adaToken);
    expect(over.status).toBe(429);
    expect(over.code).toBe("RATE_LIMITED");
    expect(Number(over.headers["retry-after"])).toBeGreaterThan(0);
    expect(over.text).toContain("RATE_LIMIT_PER_MIN");
    // Reads go on; another person is another client, even from the same address.
    expect((await rawRequest(server.port, "GET", "/api/runs", bearer(adaToken))).status).toBe(200);
    expect((await save(bobToken)).status).toBeLessThan(300);
    // Without tokens, a client is its address.
    const open = await serve({ changesPerMinute: 2 });
    const openSave = () =>
      rawRequest(open.port, "POST", "/api/pipelines/save", json, JSON.stringify(pipeline));
    expect((await openSave()).status).toBeLessThan(300);
    expect((await openSave()).status).toBeLessThan(300);
    expect((await openSave()).code).toBe("RATE_LIMITED");
  });
});
