import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createTestApi, servo } from "../support/context.js";
import { doc, move } from "../support/pipelines.js";
import { startWorkerProcess, writeDevicesFile, type WorkerProcess } from "../support/worker-process.js";

// Two worker processes are configured with the same two devices. Each device is hosted by whichever
// holds its lease; one worker stops half-way and the other takes its devices over, with commands
// still queued: the lease and the queue's global concurrency keep one command per device throughout.
const devices = [servo("servo-1", { speed: 4000 }), servo("servo-2", { speed: 4000 })];
let api: ReturnType<typeof createTestApi>;
let workers: WorkerProcess[] = [];

beforeAll(async () => {
  api = createTestApi(devices);
  const file = writeDevicesFile(devices);
  workers = await Promise.all([
    startWorkerProcess(api.prefix, file, { WORKER_ID: "worker-1" }),
    startWorkerProcess(api.prefix, file, { WORKER_ID: "worker-2" }),
  ]);
});
afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
  await api.close();
});

describe("the device lock", () => {
  it("never puts two commands on one device across 20 concurrent runs, two worker processes and a hand-over", async () => {
    const pipeline = (i: number) =>
      doc(
        `lock${i}`,
        [
          move("a", "servo-1", 10 + i),
          move("b", "servo-2", 20 + i),
          move("c", "servo-1", 30 + i),
          move("d", "servo-2", 40 + i),
        ],
        [
          { source: "a", target: "c" },
          { source: "b", target: "d" },
        ],
      );
    const submitted = await Promise.all(
      Array.from({ length: 20 }, (_, i) => api.engine.submitRun({ document: pipeline(i) })),
    );
    const owners = async () => new Set((await api.engine.devices()).map((device) => device.workerId));
    await vi.waitFor(async () =>
      expect((await api.engine.devices()).every((d) => d.status !== "offline")).toBe(true),
    );
    const [stopping] = [...(await owners())];
    const ended: string[] = [];
    const waits = submitted.map(({ runId }) =>
      api.engine.waitForRun(runId, 60_000).then((run) => {
        ended.push(run.runId);
        return run;
      }),
    );
    await vi.waitFor(() => expect(ended.length).toBeGreaterThanOrEqual(5), { timeout: 30_000, interval: 20 });
    const stopped = workers.find((_, index) => `worker-${index + 1}` === stopping);
    const endedBeforeStop = ended.length;
    expect(await stopped?.stop()).toBe(0);
    const runs = await Promise.all(waits);
    expect(ended.length).toBe(20);
    // The hand-over happened with work still to do.
    expect(endedBeforeStop).toBeLessThan(15);
    const survivor = stopping === "worker-1" ? "worker-2" : "worker-1";
    await vi.waitFor(async () => expect(await owners()).toEqual(new Set([survivor])), { timeout: 3000 });
    expect(runs.map((run) => run.status)).toEqual(runs.map(() => "completed"));

    const intervals = new Map<string, [number, number][]>();
    for (const node of runs.flatMap((run) => run.nodes)) {
      const list = intervals.get(node.deviceId) ?? [];
      list.push([Date.parse(node.startedAt ?? ""), Date.parse(node.finishedAt ?? "")]);
      intervals.set(node.deviceId, list);
    }
    expect([...intervals.keys()].sort()).toEqual(["servo-1", "servo-2"]);
    let overlaps = 0;
    for (const list of intervals.values()) {
      expect(list).toHaveLength(40);
      list.sort((x, y) => x[0] - y[0]);
      for (let i = 1; i < list.length; i += 1)
        if ((list[i]?.[0] ?? 0) < (list[i - 1]?.[1] ?? 0)) overlaps += 1;
    }
    expect(overlaps).toBe(0);
  });
});
