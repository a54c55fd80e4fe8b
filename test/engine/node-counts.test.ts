import { describe, expect, it, vi } from "vitest";
import { nodeStatuses, type NodeCounts, type RunState } from "../../src/engine/index.js";
import { loadScripts } from "../../src/engine/redis/scripts.js";
import { rigForFile, servo } from "../support/context.js";
import { chainDoc, move, servoDiamond, statusFan } from "../support/pipelines.js";
import { runToEnd, untilFirstNodeRuns } from "../support/runs.js";

// The run's node counts ('#<status>' fields kept by set-node-status.lua) against its nodes' own
// statuses, after each kind of end: completed, failed then resumed, cancelled mid-command.
const devices = [
  servo("servo-1"),
  servo("servo-2"),
  servo("flaky", { fail_first: { move: 1 } }),
  servo("flaky-2", { fail_first: { move: 1 } }),
  servo("slow", { speed: 1 }),
];
const rig = rigForFile(devices);

function countsOf(run: RunState): NodeCounts {
  const counts = Object.fromEntries(nodeStatuses.map((status) => [status, 0])) as NodeCounts;
  for (const node of run.nodes) counts[node.status] += 1;
  return counts;
}

async function expectCountsMatch(runId: string): Promise<NodeCounts> {
  const run = await rig.api.engine.getRun(runId);
  const stored = await rig.api.engine.runs.loadRun(runId);
  const counts = await rig.api.engine.runs.nodeCounts(runId, stored!.plan);
  expect(counts).toEqual(countsOf(run));
  return counts;
}

/** A move on the slow servo (to `position`), then one on servo-1; resolves once the first is under way. */
async function startTwoSteps(id: string, position: number): Promise<string> {
  const document = chainDoc(id, move("a", "slow", position), move("b", "servo-1", 1));
  const { runId } = await rig.api.engine.submitRun({ document });
  await untilFirstNodeRuns(rig.api.engine, runId);
  return runId;
}

describe("node counts", () => {
  it("match the nodes after a run completes", async () => {
    const run = await runToEnd(rig.api.engine, servoDiamond("counts-diamond"));
    expect(run.status).toBe("completed");
    expect(await expectCountsMatch(run.runId)).toMatchObject({ completed: 4, pending: 0 });
  });

  it("match after a failure halts a run, and again after its resume", async () => {
    const document = chainDoc(
      "counts-resume",
      move("a", "servo-1", 5),
      move("b", "flaky", 6),
      move("c", "servo-2", 7),
    );
    const failed = await runToEnd(rig.api.engine, document);
    expect(failed.status).toBe("failed");
    expect(await expectCountsMatch(failed.runId)).toMatchObject({ completed: 1, failed: 1, pending: 1 });
    await rig.api.engine.resumeRun(failed.runId);
    const resumed = await rig.api.engine.waitForRun(failed.runId, 20_000);
    expect(resumed.status).toBe("completed");
    expect(await expectCountsMatch(failed.runId)).toMatchObject({ completed: 3 });
  });

  it("match after a cancel stops a command under way", async () => {
    const runId = await startTwoSteps("counts-cancel", 150);
    await rig.api.engine.cancelRun(runId);
    expect((await rig.api.engine.waitForRun(runId, 10_000)).status).toBe("cancelled");
    expect(await expectCountsMatch(runId)).toMatchObject({ cancelled: 1, pending: 1 });
  });

  it("match after a large run is cancelled with its nodes queued, and after its resume (reset in batches)", async () => {
    // The slow servo is busy with another run's long move: the fan's middles queue behind it.
    const blocker = await startTwoSteps("counts-blocker", 170);
    const width = 600; // more than one nodes-reset batch
    const document = statusFan("counts-large-resume", width, ["slow"]);
    const root = document.nodes[0];
    if (root) root.device_id = "servo-1";
    const { runId } = await rig.api.engine.submitRun({ document });
    const stored = await rig.api.engine.runs.loadRun(runId);
    await vi.waitFor(
      async () => expect((await rig.api.engine.runs.nodeCounts(runId, stored!.plan)).queued).toBe(width),
      { timeout: 10_000, interval: 50 },
    );
    await rig.api.engine.cancelRun(runId);
    expect((await rig.api.engine.waitForRun(runId, 10_000)).status).toBe("cancelled");
    expect(await expectCountsMatch(runId)).toMatchObject({ completed: 1, cancelled: width, pending: 1 });
    await rig.api.engine.cancelRun(blocker);
    await rig.api.engine.waitForRun(blocker, 10_000);

    await rig.api.engine.resumeRun(runId);
    const resumed = await rig.api.engine.waitForRun(runId, 30_000);
    expect(resumed.status).toBe("completed");
    expect(await expectCountsMatch(runId)).toMatchObject({ completed: width + 2 });
  });

  it("after a resume whose reset of the nodes was left part-way: the run job finishes it", async () => {
    const document = chainDoc("counts-reset-left", move("a", "flaky-2", 4), move("b", "servo-2", 5));
    const failed = await runToEnd(rig.api.engine, document);
    expect(failed.status).toBe("failed");
    // The resume's first step only, twice (a resend), as if its caller died right after it.
    const scripts = loadScripts(rig.api.redis);
    const keys = rig.api.engine.keys;
    const resumeKeys = [
      keys.run(failed.runId),
      keys.runEvents(failed.runId),
      keys.activeRuns,
      keys.runsByStatusPrefix,
      keys.endedRuns,
      keys.runNodes(failed.runId),
    ];
    expect(await scripts["run-resume"](resumeKeys, ["resume-1", "retry"])).toEqual([
      "failed",
      "running",
      1,
      1,
    ]);
    expect(await scripts["run-resume"](resumeKeys, ["resume-1", "retry"])).toEqual([
      "failed",
      "running",
      1,
      1,
    ]);
    expect(await scripts["run-resume"](resumeKeys, ["resume-2", "retry"])).toEqual([
      "running",
      "running",
      1,
      0,
    ]);
    expect(await rig.api.redis.hget(keys.run(failed.runId), "resetting")).toBe("1");
    const before = await rig.api.engine.getRun(failed.runId);
    expect(before.nodes.find((node) => node.nodeId === "a")?.status).toBe("failed");

    await rig.api.engine.wakeRunJob(failed.runId, failed.pipelineId);
    const resumed = await rig.api.engine.waitForRun(failed.runId, 20_000);
    expect(resumed.status).toBe("completed");
    expect(await expectCountsMatch(failed.runId)).toMatchObject({ completed: 2, failed: 0 });
    expect(await rig.api.redis.hexists(keys.run(failed.runId), "resetting")).toBe(0);
    const events = await rig.api.engine.runEvents(failed.runId);
    expect(events.filter((event) => event.type === "pipeline_resumed")).toHaveLength(1);
  });

  it("knocked off while a run goes on (an older release's script), are counted again and the run still ends", async () => {
    const runId = await startTwoSteps("counts-off", 3);
    // As an older node-begin would have left them: the running node still counted pending.
    const key = rig.api.engine.keys.runNodes(runId);
    await rig.api.redis.hincrby(key, "#running", -1);
    await rig.api.redis.hincrby(key, "#pending", 1);
    const run = await rig.api.engine.waitForRun(runId, 20_000);
    expect(run.status).toBe("completed");
    expect(await expectCountsMatch(runId)).toMatchObject({ completed: 2, pending: 0, running: 0 });
  });

  it("are made once, in Redis, for a run recorded before counts existed", async () => {
    const run = await runToEnd(rig.api.engine, servoDiamond("counts-legacy"));
    const key = rig.api.engine.keys.runNodes(run.runId);
    await rig.api.redis.hdel(key, "#counted", ...nodeStatuses.map((status) => `#${status}`));
    expect(await expectCountsMatch(run.runId)).toMatchObject({ completed: 4 });
    expect(await rig.api.redis.hget(key, "#counted")).toBe("1");
    expect(await rig.api.redis.hget(key, "#completed")).toBe("4");
  });
});
