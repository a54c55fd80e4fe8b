import { afterEach, describe, expect, it, vi } from "vitest";
import { redisKeys } from "../../src/engine/index.js";
import type { WorkerHandle } from "../../src/worker/worker.js";
import { createTestApi, recordingLog, servo, startTestWorker } from "../support/context.js";
import { doc, move } from "../support/pipelines.js";

type TestApi = ReturnType<typeof createTestApi>;
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function api(devices = [servo("servo-1", { speed: 4000 })]): TestApi {
  const created = createTestApi(devices);
  closers.push(() => created.close());
  return created;
}

async function worker(rig: TestApi, workerId: string, log = recordingLog()) {
  const started: WorkerHandle = await startTestWorker(rig.prefix, [servo("servo-1", { speed: 4000 })], {
    workerId,
    log: log.log,
  });
  let closed = false;
  closers.push(() => (closed ? Promise.resolve() : started.close()));
  return {
    ...started,
    log,
    close: async () => {
      closed = true;
      await started.close();
    },
  };
}

interface WireDevice {
  device_id: string;
  status: string;
  worker_id: string | null;
  error_message: string | null;
}

async function device(rig: TestApi): Promise<WireDevice> {
  const body = (await (await rig.get("/api/devices")).json()) as { devices: WireDevice[] };
  return body.devices[0] as WireDevice;
}

async function runMove(rig: TestApi, position: number) {
  const { runId } = await rig.engine.submitRun({
    document: doc(`p${position}`, [move("a", "servo-1", position)], []),
  });
  return runId;
}

describe("device leases", () => {
  it("a second worker refuses a device a live worker hosts, and takes it over when that worker stops", async () => {
    const rig = api();
    const first = await worker(rig, "worker-a");
    const second = await worker(rig, "worker-b");

    expect(first.refusedDevices()).toEqual(new Map());
    expect(second.refusedDevices()).toEqual(new Map([["servo-1", "worker-a"]]));
    const refusal = second.log.lines().find((line) => line.level === 50);
    expect(refusal?.msg).toMatch(/device 'servo-1' is already hosted by worker 'worker-a'.*WORKER_DEVICES/);
    await vi.waitFor(
      async () => expect(await device(rig)).toMatchObject({ worker_id: "worker-a", status: "idle" }),
      { timeout: 1000, interval: 20 },
    );
    const before = await rig.engine.waitForRun(await runMove(rig, 10), 10_000);
    expect(before.status).toBe("completed");

    await first.close();
    await vi.waitFor(async () => expect(await device(rig)).toMatchObject({ worker_id: "worker-b" }), {
      timeout: 3000,
      interval: 50,
    });
    expect(second.refusedDevices()).toEqual(new Map());
    expect(second.log.lines().map((line) => line.msg)).toContain("took over the device's lease");
    const after = await rig.engine.waitForRun(await runMove(rig, 20), 10_000);
    expect(after.status).toBe("completed");
  });

  it("takes over a dead worker's lease once it lapses, and stops serving a device whose lease it lost", async () => {
    const rig = api();
    const keys = redisKeys(rig.prefix);
    const lease = keys.deviceLease("servo-1");
    // A lease on the lease clock (lease-clock.lua) that lapses 1.5 s from now, and its record.
    await rig.redis.hset(keys.leaseClock, { real: Date.now(), logical: 0 });
    await rig.redis.hset(lease, { holder: "dead-worker", fence: 7, until: 1500 });
    await rig.redis.hset(keys.device("servo-1"), { worker_id: "dead-worker", device_id: "servo-1" });

    const host = await worker(rig, "worker-a");
    expect(host.refusedDevices()).toEqual(new Map([["servo-1", "dead-worker"]]));
    await vi.waitFor(() => expect(host.refusedDevices().size).toBe(0), { timeout: 4000, interval: 50 });
    await vi.waitFor(async () => expect(await device(rig)).toMatchObject({ worker_id: "worker-a" }), {
      timeout: 2000,
      interval: 50,
    });

    // Another worker's id written over the lease, as if this worker had stalled past it.
    await rig.redis.hset(lease, { holder: "worker-z", fence: 9, until: Number.MAX_SAFE_INTEGER });
    await vi.waitFor(() => expect(host.refusedDevices().get("servo-1")).toBe("worker-z"), {
      timeout: 3000,
      interval: 50,
    });
    expect(host.log.lines().some((line) => String(line.msg).startsWith("lost the lease"))).toBe(true);
    const runId = await runMove(rig, 30);
    const queue = rig.engine.queues.device("servo-1");
    await vi.waitFor(async () => expect(await queue.getWaitingCount()).toBe(1), { timeout: 3000 });

    const freedAt = Date.now();
    await rig.redis.hset(lease, "until", 0);
    const run = await rig.engine.waitForRun(runId, 10_000);
    expect(run.status).toBe("completed");
    expect(Date.parse(run.nodes[0]?.startedAt ?? "")).toBeGreaterThanOrEqual(freedAt - 5);
  });

  it("shows a device in error after a device fault, with what it said, until a command succeeds", async () => {
    const rig = api([servo("servo-1", { speed: 4000, fail_first: { move: 1 } })]);
    const host = await startTestWorker(rig.prefix, [
      servo("servo-1", { speed: 4000, fail_first: { move: 1 } }),
    ]);
    closers.push(() => host.close());
    const pipeline = (position: number) =>
      doc(`f${position}`, [{ ...move("a", "servo-1", position), retry: { attempts: 1, backoff_ms: 0 } }], []);

    const failed = await rig.engine.submitRun({ document: pipeline(10) });
    expect((await rig.engine.waitForRun(failed.runId, 10_000)).status).toBe("failed");
    await vi.waitFor(async () => expect((await device(rig)).status).toBe("error"), { timeout: 1000 });
    expect((await device(rig)).error_message).toMatch(/servo-1: .*injected fault on call 1 of 'move'/);

    const fixed = await rig.engine.submitRun({ document: pipeline(20) });
    expect((await rig.engine.waitForRun(fixed.runId, 10_000)).status).toBe("completed");
    await vi.waitFor(
      async () => expect(await device(rig)).toMatchObject({ status: "idle", error_message: null }),
      {
        timeout: 1000,
      },
    );
  });
});
