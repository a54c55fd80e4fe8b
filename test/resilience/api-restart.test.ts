import { afterEach, describe, expect, it } from "vitest";
import { startApiProcess, type ApiProcess } from "../support/api-process.js";
import { newPrefix, redisUrl } from "../support/context.js";
import { getJson } from "../support/http.js";
import { startWorkerProcess, writeDevicesFile, type WorkerProcess } from "../support/worker-process.js";
import {
  completedNodes,
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

afterEach(() => stopAll([...workers.splice(0), ...apis.splice(0)]));

const runCount = 10;

// The API holds nothing of a run's own: runs are in Redis and run on workers. An API process
// killed (SIGKILL) mid-way through a batch of runs loses none of them: a new API process finds
// every run by its id, sees it through to completed, and lists them all.
describe("the API process killed mid-run", () => {
  it("loses no run: a new API process finds each submitted run, completed, and lists them all", async () => {
    const prefix = newPrefix();
    const { devices, journal } = rig();
    const devicesFile = writeDevicesFile(devices);
    const env = { REDIS_URL: redisUrl(), RIGFLOW_PREFIX: prefix, DEVICES_FILE: devicesFile };
    const [first] = await Promise.all([
      startApiProcess(env, apis),
      startWorkerProcess(prefix, devicesFile, {}, workers),
    ]);

    const runIds = await submitRuns(first.url, runCount);
    const before = await waitUntilMidway(first.url, runIds, 5);
    await first.kill();
    expect(first.alive()).toBe(false);

    const second = await startApiProcess(env, apis);
    // The runs went on without an API; the new one picks them up where they are.
    expect(await completedNodes(second.url, runIds)).toBeGreaterThanOrEqual(before);
    await waitUntilEnded(second.url, runIds);
    await expectEachNodeRanOnce(second.url, runIds);
    expectDevicesRanEachNodeOnce(journal, runCount);

    const { runs, next_cursor } = await getJson<{
      runs: { run_id: string; status: string }[];
      next_cursor: string | null;
    }>(second.url, "/api/runs?limit=200");
    expect(next_cursor).toBeNull();
    expect(runs.map((run) => run.run_id).sort()).toEqual([...runIds].sort());
    expect(runs.every((run) => run.status === "completed")).toBe(true);
  });
});
