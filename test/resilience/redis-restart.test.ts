import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { startRedisServer, type RedisServerHandle } from "../../src/infra/redis-server.js";
import { startApiProcess, type ApiProcess } from "../support/api-process.js";
import { newPrefix } from "../support/context.js";
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
    const devicesFile = writeDevicesFile(devices);
    const env = { REDIS_URL: first.url, RIGFLOW_PREFIX: prefix, DEVICES_FILE: devicesFile };
    const [api, worker] = await Promise.all([
      startApiProcess(env, apis),
      startWorkerProcess(prefix, devicesFile, { REDIS_URL: first.url }, workers),
    ]);

    const runIds = await submitRuns(api.url, runCount);
    await waitUntilMidway(api.url, runIds, 10);

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

    const runs = await waitUntilEnded(api.url, runIds);
    // Some command was under way on a device when Redis went down, and completed across the outage.
    const spanning = runs
      .flatMap((run) => Object.values(run.nodes))
      .filter((node) => (node.started_at ?? "") < downAt && (node.finished_at ?? "") > downAt);
    expect(spanning.length).toBeGreaterThan(0);
    await expectEachNodeRanOnce(api.url, runIds);
    expectDevicesRanEachNodeOnce(journal, runCount);
    expect(api.alive() && worker.alive()).toBe(true);
  });
});
