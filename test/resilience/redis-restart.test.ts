import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startRedisServer, type RedisServerHandle } from "../../src/infra/redis-server.js";
import { startApiProcess, type ApiProcess } from "../support/api-process.js";
import { newPrefix, servo } from "../support/context.js";
import { getJson, postJson, type RunView } from "../support/http.js";
import { doc, move } from "../support/pipelines.js";
import { startWorkerProcess, writeDevicesFile, type WorkerProcess } from "../support/worker-process.js";
import {
  expectDevicesRanEachNodeOnce,
  expectEachNodeRanOnce,
  rig,
  stopAll,
  submitRuns,
  waitUntilEnded,
  waitUntilMidway,
} from "./scenario.js";

const workers: WorkerProcess[] = [];
const apis: ApiProcess[] = [];
const servers: RedisServerHandle[] = [];
const dataDirs: string[] = [];

afterEach(async () => {
  await stopAll([...workers.splice(0), ...apis.splice(0)]);
  await Promise.all(servers.splice(0).map((server) => server.stop()));
  for (const dir of dataDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const runCount = 10;

// A Redis of the test's own, with AOF on and its data in a temp dir, an API process and a worker
// process on it. Mid-way through a batch of runs Redis goes away and comes back on the same port
// from its AOF; the API and the worker reconnect by themselves and every run finishes as if
// nothing had happened: each node once, with the right outputs.
describe("Redis restarting mid-run, from its AOF", () => {
  it.each([
    { how: "stopped (SIGTERM, it writes its AOF)", signal: "SIGTERM", appendfsync: "everysec" },
    { how: "killed (SIGKILL, appendfsync always)", signal: "SIGKILL", appendfsync: "always" },
  ] as const)("runs in flight when Redis is $how all complete, each node once", async (c) => {
    const dataDir = mkdtempSync(join(tmpdir(), "rigflow-aof-"));
    dataDirs.push(dataDir);
    const first = await startRedisServer({ dataDir, appendfsync: c.appendfsync });
    servers.push(first);
    const prefix = newPrefix();
    const { devices, journal } = rig();
    // A slow servo outside the journal, whose one long move is surely under way when Redis goes.
    const devicesFile = writeDevicesFile([...devices, servo("servo-slow", { speed: 50 })]);
    const env = { REDIS_URL: first.url, RIGFLOW_PREFIX: prefix, DEVICES_FILE: devicesFile };
    const [api, worker] = await Promise.all([
      startApiProcess(env, apis),
      startWorkerProcess(prefix, devicesFile, { REDIS_URL: first.url }, workers),
    ]);

    const runIds = await submitRuns(api.url, runCount);
    await waitUntilMidway(api.url, runIds, 10);
    const slow = await postJson<{ run_id: string }>(api.url, "/api/runs", {
      pipeline: doc("slow_move", [move("long", "servo-slow", 150)], []),
    });
    // 150 units at 50 a second: 3 s, against an outage of about one.
    await vi.waitFor(
      async () => {
        const run = await getJson<RunView>(api.url, `/api/runs/${slow.body.run_id}`);
        expect(run.nodes.long?.status).toBe("running");
      },
      { timeout: 10_000, interval: 10 },
    );

    const logBefore = worker.log().length;
    const downAt = new Date().toISOString();
    if (c.signal === "SIGKILL") process.kill(first.pid, "SIGKILL");
    await first.stop();
    expect(readdirSync(join(dataDir, "appendonlydir")).join(" ")).toContain("appendonly");
    // Down for a moment: the worker has noticed, and is trying to reconnect.
    await vi.waitFor(() => expect(worker.log().slice(logBefore)).toContain("ECONNREFUSED"), {
      timeout: 5000,
      interval: 20,
    });
    // Meanwhile the API answers that Redis is unavailable, and stays up.
    const down = await fetch(`${api.url}/api/runs/${runIds[0]}`);
    expect([down.status, ((await down.json()) as { error?: { code?: string } }).error?.code]).toEqual([
      503,
      "REDIS_UNAVAILABLE",
    ]);

    const second = await startRedisServer({ dataDir, port: first.port, appendfsync: c.appendfsync });
    servers.push(second);
    expect(second.url).toBe(first.url);

    const runs = await waitUntilEnded(api.url, [...runIds, slow.body.run_id]);
    // The slow move was under way when Redis went down, and completed across the outage, once.
    const long = runs.at(-1)?.nodes.long;
    expect([long?.status, long?.attempts]).toEqual(["completed", 1]);
    expect((long?.started_at ?? "") < downAt && (long?.finished_at ?? "") > downAt).toBe(true);
    await expectEachNodeRanOnce(api.url, runIds);
    expectDevicesRanEachNodeOnce(journal, runCount);
    expect(api.alive() && worker.alive()).toBe(true);
  });
});
