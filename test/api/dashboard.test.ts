import { afterEach, describe, expect, it } from "vitest";
import { runPageOfJob } from "../../src/api/routes/bull-board.js";
import type { ApiHandle } from "../../src/api/server.js";
import { createTestApi, newPrefix, servo, startTestServer } from "../support/context.js";
import { doc, home, move } from "../support/pipelines.js";
import { tryUpgrade } from "../support/raw-http.js";

const token = "secret-token";
const html = { accept: "text/html,application/xhtml+xml" };

/** Signs in with the form, as a browser does; resolves the session cookie (`rigflow_session=...`). */
async function signIn(
  request: (path: string, init: RequestInit) => Promise<Response> | Response,
  as = token,
) {
  const response = await request("/login", {
    method: "POST",
    body: new URLSearchParams({ token: as, next: "/" }),
  });
  expect(response.status).toBe(303);
  const cookie = /rigflow_session=[^;]+/.exec(response.headers.get("set-cookie") ?? "")?.[0];
  if (!cookie) throw new Error("no session cookie");
  return { cookie };
}

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const api of opened.splice(0)) await api.close();
});

function open(apiToken?: string) {
  const api = createTestApi([servo("servo-1")], apiToken ? { apiToken } : {});
  opened.push(api);
  return api;
}

const upgrade = (server: ApiHandle, headers: Record<string, string>, query = "") =>
  tryUpgrade(server.port, headers, query);

describe("dashboard routes", () => {
  it("serves the page at every dashboard path; a page loaded on the session cookie is not handed the token", async () => {
    const api = open(token);
    const cookie = await signIn(api.app.request);
    for (const path of ["/", "/runs", "/runs/run_x", "/devices", "/pipelines", "/pipelines/p1", "/audit"]) {
      const response = await api.get(path, cookie);
      expect(response.status, path).toBe(200);
      expect(response.headers.get("cache-control")).toBe("no-store");
      expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
      expect(response.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(response.headers.get("x-frame-options")).toBe("DENY");
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      const page = await response.text();
      expect(page).toContain('<meta name="rigflow-token" content="" />');
      expect(page).not.toContain(token);
    }
    // Loaded with the token itself (no cookie), its scripts have nothing else: they get it.
    const withBearer = await (await api.get("/runs", { authorization: `Bearer ${token}` })).text();
    expect(withBearer).toContain(`<meta name="rigflow-token" content="${token}" />`);
  });

  it("lets /api take the session cookie, for changes only from the server's own pages", async () => {
    const api = open(token);
    const cookie = await signIn(api.app.request);
    const own = { ...cookie, host: "localhost", origin: "http://localhost" };
    // A same-origin GET carries no Origin: the cookie counts (another site could not read the answer).
    expect((await api.get("/api/runs", cookie)).status).toBe(200);
    expect((await api.get("/api/runs", own)).status).toBe(200);
    // Changing something: the Origin must be there, and be this server.
    const cancel = (headers: Record<string, string>) =>
      api.app.request("/api/runs/run_x/cancel", { method: "POST", headers });
    expect((await cancel(own)).status).toBe(404); // past access: no such run
    const foreign = await cancel({ ...cookie, host: "localhost", origin: "http://evil.example" });
    expect(foreign.status).toBe(403);
    const body = (await foreign.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("ORIGIN_FORBIDDEN");
    expect(body.error.message).toContain("not from http://evil.example");
    expect((await cancel({ ...cookie, host: "localhost" })).status).toBe(403);
    expect((await cancel({ ...cookie, host: "localhost", "sec-fetch-site": "same-origin" })).status).toBe(
      404,
    );
    // No cookie, or a made-up one: the usual 401.
    expect((await api.get("/api/runs")).status).toBe(401);
    expect((await api.get("/api/runs", { cookie: `rigflow_session=${"A".repeat(43)}` })).status).toBe(401);
  });

  it("answers a browser without credentials with a sign-in page, anything else with the error shape", async () => {
    const api = open(token);
    const page = await api.get("/devices", html);
    expect(page.status).toBe(401);
    expect(await page.text()).toContain('name="next" value="/devices"');
    const wrong = await api.get("/devices?token=nope", html);
    expect(await wrong.text()).toContain("the token is not valid");
    const json = await api.get("/dashboard/app.js");
    expect(json.status).toBe(401);
    expect(((await json.json()) as { error: { code: string } }).error.code).toBe("UNAUTHORIZED");
    expect((await api.get("/dashboard/app.js", { authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await api.get("/admin/queues/api/queues")).status).toBe(401);
    expect((await api.get("/admin/queues/api/queues", await signIn(api.app.request))).status).toBe(200);
  });

  it("keeps Bull-board read-only: an action there would bypass the run ledger", async () => {
    const api = open();
    for (const action of ["pause", "concurrency"]) {
      const response = await api.app.request(`/admin/queues/api/queues/device-servo-1/${action}`, {
        method: "PUT",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ concurrency: 5 }),
      });
      expect(response.status, action).toBe(405);
    }
    expect(await api.engine.queues.device("servo-1").isPaused()).toBe(false);
  });

  it("turns ?token= into a session cookie and a redirect without it", async () => {
    const api = open(token);
    const response = await api.get(`/runs?status=failed&token=${token}`, html);
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/runs?status=failed");
    expect(response.headers.get("set-cookie")).toMatch(/rigflow_session=[A-Za-z0-9_-]{43};/);
    expect(response.headers.get("set-cookie")).not.toContain(token);
    expect(response.headers.get("set-cookie")).toMatch(/HttpOnly/i);
    expect(response.headers.get("set-cookie")).toMatch(/SameSite=Lax/i);
  });

  it("opens /ws on the session cookie from this server's own pages, never from another site's", async () => {
    const server = await startTestServer(newPrefix(), [servo("servo-1")], {
      access: { apiToken: token, trustedProxies: ["loopback"] },
    });
    opened.push(server);
    const host = `127.0.0.1:${server.port}`;
    const { cookie: session } = await signIn((path, init) =>
      fetch(`http://${host}${path}`, { ...init, redirect: "manual" }),
    );
    expect(await upgrade(server, { cookie: session, origin: `http://${host}` })).toEqual({ status: 101 });
    // Behind a trusted proxy that rewrites Host, the host the browser saw comes as X-Forwarded-Host.
    expect(
      await upgrade(server, {
        cookie: `theme=dark; ${session}`,
        origin: "https://rigflow.example",
        "x-forwarded-host": "rigflow.example",
      }),
    ).toEqual({ status: 101 });
    // Another site's page: the browser sends the cookie, but the Origin gives it away; and a token
    // does not make another site's page welcome either.
    for (const origin of [
      "http://evil.example",
      `http://${host}.evil.example`,
      `http://127.0.0.1:${server.port + 1}`,
      "null",
    ]) {
      expect(await upgrade(server, { cookie: session, origin }), origin).toEqual({
        status: 403,
        code: "ORIGIN_FORBIDDEN",
      });
      expect(await upgrade(server, { origin }, `?token=${token}`), origin).toEqual({
        status: 403,
        code: "ORIGIN_FORBIDDEN",
      });
    }
    // No cookie, or one that is not a session: 401 as before.
    expect(await upgrade(server, { origin: `http://${host}` })).toEqual({
      status: 401,
      code: "UNAUTHORIZED",
    });
    expect(
      await upgrade(server, { cookie: `rigflow_session=${"B".repeat(43)}`, origin: `http://${host}` }),
    ).toEqual({ status: 401, code: "UNAUTHORIZED" });
    // Scripts and the CLI send no Origin: their token is enough.
    expect(await upgrade(server, { authorization: `Bearer ${token}` })).toEqual({ status: 101 });
    expect(await upgrade(server, {}, `?token=${token}`)).toEqual({ status: 101 });
  });

  it("tells a page loaded with the session to open /ws without the token in its URL", async () => {
    const api = open(token);
    const withSession = await (await api.get("/runs", await signIn(api.app.request))).text();
    expect(withSession).toContain('<meta name="rigflow-session" content="1" />');
    const withBearer = await (await api.get("/runs", { authorization: `Bearer ${token}` })).text();
    expect(withBearer).toContain('<meta name="rigflow-session" content="" />');
  });

  it("never sends a sign-in to another site", async () => {
    const api = open(token);
    // Signed in once: the later sign-ins keep that session (a browser's cookie), so the limit on
    // sign-ins per token does not come into it.
    const session = await signIn(api.app.request);
    for (const next of [
      "//evil.example/x",
      "https://evil.example/",
      "/\\evil.example",
      "javascript:alert(1)",
      // Browsers drop tabs and newlines from a URL and read "\\" as "/": each of these is //evil.
      "/\t/evil.example",
      "/\n/evil",
      "/\r\n/evil",
      "/\\evil",
      "https://evil",
      "//evil",
      "/\u0000/evil",
      // Dot segments that a URL parser folds into a leading "//".
      "/.//evil",
      "/a/..//evil",
      "/%2e//evil",
    ]) {
      const response = await api.app.request("/login", {
        method: "POST",
        headers: session,
        body: new URLSearchParams({ token, next }),
      });
      expect(response.status, next).toBe(303);
      expect(response.headers.get("location"), next).toBe("/");
    }
    // A path on this server, with its query and fragment, still follows the sign-in.
    const kept: [next: string, location: string][] = [
      ["/runs?status=failed#x", "/runs?status=failed#x"],
      ["/runs/run_1?node=a", "/runs/run_1?node=a"],
      ["/a/../devices", "/devices"],
    ];
    for (const [next, location] of kept) {
      const response = await api.app.request("/login", {
        method: "POST",
        headers: session,
        body: new URLSearchParams({ token, next }),
      });
      expect(response.headers.get("location"), next).toBe(location);
    }
  });

  it("serves only the dashboard's own files, with ETags", async () => {
    const api = open();
    const script = await api.get("/dashboard/lib/dag.js");
    expect(script.headers.get("content-type")).toContain("text/javascript");
    const etag = script.headers.get("etag") ?? "";
    expect((await api.get("/dashboard/lib/dag.js", { "if-none-match": etag })).status).toBe(304);
    const dagre = await api.get("/dashboard/vendor/dagre.js");
    expect(dagre.status).toBe(200);
    expect(await dagre.text()).toContain("export{");
    for (const path of [
      "/dashboard/../package.json",
      "/dashboard/%2e%2e/package.json",
      "/dashboard/nope.js",
    ]) {
      expect((await api.get(path)).status, path).toBe(404);
    }
  });

  it("gives a run's DAG from the run's own plan, and 404 in the error shape for an unknown run", async () => {
    const api = open();
    const { runId } = await api.engine.submitRun({
      document: doc("g", [home("a", "servo-1"), move("b", "servo-1", 10)], [{ source: "a", target: "b" }]),
    });
    const graph = (await (await api.get(`/dashboard/api/runs/${runId}/graph`)).json()) as {
      nodes: { node_id: string }[];
      edges: { source: string; target: string }[];
    };
    expect(graph.nodes.map((n) => n.node_id)).toEqual(["a", "b"]);
    expect(graph.edges).toEqual([{ source: "a", target: "b", data: [] }]);
    const missing = await api.get("/dashboard/api/runs/run_missing/graph");
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe("RUN_NOT_FOUND");
  });

  it("links Bull-board's jobs to their run page", () => {
    expect(runPageOfJob({ id: "run_1__2__move_a", data: { runId: "run_1", nodeId: "move_a" } })).toEqual({
      href: "/runs/run_1?node=move_a",
      displayText: "Run run_1, node move_a",
    });
    expect(runPageOfJob({ id: "run_1", data: { runId: "run_1", pipelineId: "p" } }).href).toBe("/runs/run_1");
    expect(runPageOfJob({ id: "run_1__0__a__b", data: {} }).href).toBe("/runs/run_1?node=a__b");
  });
});
