import { describe, expect, it, vi } from "vitest";
import { redisKeys } from "../../src/engine/index.js";
import type { createTestApi } from "../support/context.js";
import { servo, withRig } from "../support/context.js";
import { doc, move } from "../support/pipelines.js";

type TestApi = ReturnType<typeof createTestApi>;

/** Every command begun on the rig, in the order they began (the all-runs event stream). */
async function commandOrder(api: TestApi): Promise<{ runId: string; deviceId: string; nodeId: string }[]> {
  const entries = await api.redis.xrange(redisKeys(api.prefix).events, "-", "+");
  return entries.flatMap(([, fields]) => {
    const event = JSON.parse(fields[1] ?? "{}") as Record<string, string>;
    return event.type === "node_executing"
      ? [{ runId: event.run_id ?? "", deviceId: event.device_id ?? "", nodeId: event.node_id ?? "" }]
      : [];
  });
}

/** The runs whose commands on one device are not one unbroken block. */
function interleaved(order: { runId: string; deviceId: string }[], runIds: readonly string[]): string[] {
  const broken: string[] = [];
  for (const deviceId of new Set(order.map((command) => command.deviceId))) {
    const sequence = order.filter((command) => command.deviceId === deviceId).map((command) => command.runId);
    for (const runId of runIds) {
      const first = sequence.indexOf(runId);
      const last = sequence.lastIndexOf(runId);
      if (sequence.slice(first, last + 1).some((other) => other !== runId))
        broken.push(`${runId}@${deviceId}`);
    }
  }
  return broken;
}

async function reservedBy(api: TestApi, deviceId: string): Promise<string | null> {
  const devices = await api.engine.devices();
  return devices.find((device) => device.deviceId === deviceId)?.reservedBy ?? null;
}

const devices = [servo("servo-1", { speed: 4000 }), servo("servo-2", { speed: 4000 })];
const slowDevices = [servo("servo-1", { speed: 4000 }), servo("servo-2", { speed: 250 })];

describe("run reservation (reserve_devices)", () => {
  it("two reserving runs never interleave on a device, even when they take devices in opposite orders", async () => {
    await withRig(devices, async (api) => {
      // Half the runs go servo-1 first, half servo-2 first: taking devices one at a time would deadlock.
      const pipeline = (i: number) => {
        const [first, second] = i % 2 === 0 ? ["servo-1", "servo-2"] : ["servo-2", "servo-1"];
        return {
          ...doc(
            `res${i}`,
            [
              move("a", first, 10 + i),
              move("b", second, 20 + i),
              move("c", first, 30 + i),
              move("d", second, 40 + i),
            ],
            [
              { source: "a", target: "b" },
              { source: "b", target: "c" },
              { source: "c", target: "d" },
            ],
          ),
          reserve_devices: true,
        };
      };
      const submitted = await Promise.all(
        Array.from({ length: 6 }, (_, i) => api.engine.submitRun({ document: pipeline(i) })),
      );
      const runIds = submitted.map((run) => run.runId);
      const runs = await Promise.all(runIds.map((runId) => api.engine.waitForRun(runId, 30_000)));

      expect(runs.map((run) => run.status)).toEqual(runs.map(() => "completed"));
      expect(runs.flatMap((run) => run.nodes.map((node) => node.attempts))).toEqual(Array(24).fill(1));
      const order = await commandOrder(api);
      expect(order).toHaveLength(24);
      expect(interleaved(order, runIds)).toEqual([]);
      expect(await reservedBy(api, "servo-1")).toBeNull();
      expect(await reservedBy(api, "servo-2")).toBeNull();
    });
  });

  it("without reservation the same runs do interleave (so the check above can fail)", async () => {
    await withRig(devices, async (api) => {
      const pipeline = (i: number) =>
        doc(
          `free${i}`,
          [move("a", "servo-1", 10 + i), move("b", "servo-2", 20 + i), move("c", "servo-1", 30 + i)],
          [
            { source: "a", target: "b" },
            { source: "b", target: "c" },
          ],
        );
      const submitted = await Promise.all(
        Array.from({ length: 6 }, (_, i) => api.engine.submitRun({ document: pipeline(i) })),
      );
      const runIds = submitted.map((run) => run.runId);
      await Promise.all(runIds.map((runId) => api.engine.waitForRun(runId, 30_000)));
      expect(interleaved(await commandOrder(api), runIds).length).toBeGreaterThan(0);
    });
  });

  it("another run waits for the reservation to end without using up its attempts; GET /api/devices shows the holder", async () => {
    await withRig(slowDevices, async (api) => {
      const reserving = {
        ...doc(
          "holder",
          [move("a", "servo-1", 10), move("slow", "servo-2", 150), move("c", "servo-1", 20)],
          [
            { source: "a", target: "slow" },
            { source: "slow", target: "c" },
          ],
        ),
        reserve_devices: true,
      };
      const holder = await api.engine.submitRun({ document: reserving });
      await vi.waitFor(
        async () => {
          const run = await api.engine.getRun(holder.runId);
          expect(run.nodes.find((node) => node.nodeId === "slow")?.status).toBe("running");
        },
        { timeout: 5000, interval: 10 },
      );
      expect(await reservedBy(api, "servo-1")).toBe(holder.runId);
      const body = (await (await api.get("/api/devices")).json()) as { devices: { reserved_by: string }[] };
      expect(body.devices.map((device) => device.reserved_by)).toEqual([holder.runId, holder.runId]);

      // servo-1 is idle, but reserved: this one-attempt node must wait, not fail.
      const waiting = await api.engine.submitRun({
        document: doc("waiter", [{ ...move("x", "servo-1", 90), retry: { attempts: 1, backoff_ms: 0 } }]),
      });
      const [held, waited] = await Promise.all([
        api.engine.waitForRun(holder.runId, 10_000),
        api.engine.waitForRun(waiting.runId, 10_000),
      ]);

      expect(held.status).toBe("completed");
      expect(waited.status).toBe("completed");
      const x = waited.nodes[0];
      expect(x?.attempts).toBe(1);
      const lastOfHolder = held.nodes.find((node) => node.nodeId === "c")?.finishedAt ?? "";
      expect(Date.parse(x?.startedAt ?? "")).toBeGreaterThanOrEqual(Date.parse(lastOfHolder));
      expect(await reservedBy(api, "servo-1")).toBeNull();
    });
  });

  it("a reserving run that fails lets go of its devices, and takes them again when resumed", async () => {
    const faulty = [
      servo("servo-1", { speed: 4000, fail_first: { home: 1 } }),
      servo("servo-2", { speed: 4000 }),
    ];
    await withRig(faulty, async (api) => {
      const reserving = {
        ...doc(
          "fails",
          [
            move("a", "servo-1", 10),
            {
              id: "h",
              device_id: "servo-1",
              function_id: "home",
              params: {},
              retry: { attempts: 1, backoff_ms: 0 },
            },
            move("b", "servo-2", 20),
          ],
          [
            { source: "a", target: "h" },
            { source: "h", target: "b" },
          ],
        ),
        reserve_devices: true,
      };
      const { runId } = await api.engine.submitRun({ document: reserving });
      const failed = await api.engine.waitForRun(runId, 10_000);
      expect(failed.status).toBe("failed");
      expect(await reservedBy(api, "servo-1")).toBeNull();
      expect(await reservedBy(api, "servo-2")).toBeNull();
      const other = await api.engine.submitRun({ document: doc("other", [move("x", "servo-2", 30)]) });
      expect((await api.engine.waitForRun(other.runId, 10_000)).status).toBe("completed");

      await api.engine.resumeRun(runId);
      const resumed = await api.engine.waitForRun(runId, 10_000);
      expect(resumed.status).toBe("completed");
      expect(resumed.nodes.find((node) => node.nodeId === "a")?.attempts).toBe(1);
      expect(await reservedBy(api, "servo-1")).toBeNull();
    });
  });

  it("takes reserve_devices from the run request over the pipeline's, and rejects a non-boolean", async () => {
    await withRig(devices, async (api) => {
      const pipeline = doc(
        "plain",
        [move("a", "servo-1", 10), move("b", "servo-2", 20)],
        [{ source: "a", target: "b" }],
      );
      const accepted = await api.post("/api/runs", { pipeline, reserve_devices: true });
      expect(accepted.status).toBe(202);
      const { run_id: runId } = (await accepted.json()) as { run_id: string };
      await vi.waitFor(async () => expect(await reservedBy(api, "servo-2")).toBe(runId), {
        timeout: 5000,
        interval: 5,
      });
      expect((await api.engine.waitForRun(runId, 10_000)).status).toBe("completed");

      const badRequest = await api.post("/api/runs", { pipeline, reserve_devices: "yes" });
      expect(badRequest.status).toBe(400);
      const badDocument = await api.post("/api/runs", { pipeline: { ...pipeline, reserve_devices: 1 } });
      expect(badDocument.status).toBe(400);
      expect(((await badDocument.json()) as { error: { message: string } }).error.message).toMatch(
        /reserve_devices/,
      );
    });
  });
});
