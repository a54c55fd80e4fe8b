import { afterEach, describe, expect, it, vi } from "vitest";
import { createTestApi, redisUrl } from "../support/context.js";
import { commands, expectNoTwoHoldersDrove, readJournal, type JournalCommand } from "../support/journal.js";
import { doc } from "../support/pipelines.js";
import { startTcpProxy, type TcpProxy } from "../support/tcp-proxy.js";
import { startWorkerProcess, writeDevicesFile, type WorkerProcess } from "../support/worker-process.js";
import { rig, stopAll, waitUntilHolder } from "./scenario.js";

const workers: WorkerProcess[] = [];
const proxies: TcpProxy[] = [];
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const proxy of proxies) proxy.blackhole(false);
  await stopAll(workers);
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  for (const close of closers.splice(0).reverse()) await close();
});

// The holder's link to Redis goes silent (packets dropped, no reset: its connection still reads
// "ready") while a standby, whose link works, takes its device over once the lease lapses. The
// holder cannot tell this from a stalled Redis, so it must hold the device before the lease can
// lapse, drive it no further, and stop for good once it hears that the lease has gone.
describe("a holder whose link to Redis goes silent while a standby takes its device over", () => {
  it.each([
    { fn: "move", params: { position: 120 }, ends: "completed" },
    { fn: "step", params: { delta: 120 }, ends: "failed" },
  ])(
    "holds its $fn before the standby drives, stops when the link returns, and the ledger keeps one outcome",
    async (c) => {
      const { devices, journal } = rig();
      // A 10 s motion: still under way when the standby takes the device.
      const device = { ...devices[0], options: { ...devices[0]?.options, speed: 12 } } as (typeof devices)[0];
      const api = createTestApi([device]);
      closers.push(() => api.close());
      const proxy = await startTcpProxy(Number(new URL(redisUrl()).port));
      proxies.push(proxy);
      const file = writeDevicesFile([device]);
      const holder = await startWorkerProcess(api.prefix, file, { REDIS_URL: proxy.url }, workers);
      const standby = await startWorkerProcess(api.prefix, file, {}, workers);
      expect(standby.log()).toContain("is already hosted by worker");

      const { runId } = await api.engine.submitRun({
        document: doc("silent", [{ id: "n", device_id: device.id, function_id: c.fn, params: c.params }]),
      });
      const commandOf = (pid: number) =>
        commands(readJournal(journal)).find((command) => command.pid === pid);
      await vi.waitFor(() => expect(commandOf(holder.pid)?.steps.length).toBeGreaterThan(0), {
        timeout: 10_000,
        interval: 20,
      });
      proxy.blackhole(true);

      // The standby takes the device once the lease lapses, and the node's job once its lock does.
      await waitUntilHolder(api.redis, api.prefix, device.id, standby);
      if (c.fn === "move")
        await vi.waitFor(() => expect(commandOf(standby.pid)?.steps.length).toBeGreaterThan(0), {
          timeout: 15_000,
          interval: 20,
        });
      else
        await vi.waitFor(async () => expect((await api.engine.getRun(runId)).status).toBe("failed"), {
          timeout: 15_000,
          interval: 20,
        });

      // The holder held the servo before its lease could lapse, and took no step since.
      const silenced = commandOf(holder.pid) as JournalCommand;
      const held = silenced.holds.find((hold) => hold.event === "hold");
      expect(held, "the holder never held its servo").toBeDefined();
      expect(silenced.holds.filter((hold) => hold.event === "resume")).toEqual([]);
      expect(silenced.steps.filter((at) => at > (held?.at ?? 0))).toEqual([]);
      expect(silenced.end).toBeUndefined();
      expectNoTwoHoldersDrove(readJournal(journal));

      // The link returns: the holder's renewal is refused, and it stops its command at once.
      proxy.blackhole(false);
      const returned = Date.now();
      await vi.waitFor(() => expect(commandOf(holder.pid)?.end).toBeDefined(), {
        timeout: 3000,
        interval: 10,
      });
      const stale = commandOf(holder.pid) as JournalCommand;
      expect(stale.end?.outcome).not.toBe("completed");
      expect(stale.steps.filter((at) => at > (held?.at ?? 0))).toEqual([]);
      expect((stale.end?.at ?? Infinity) - returned).toBeLessThan(2000);
      expect(holder.log()).toMatch(/no renewal of the lease on device .* answered/);
      expect(holder.log()).toMatch(/lost the lease on device .* to worker/);

      const run = await api.engine.waitForRun(runId, 20_000);
      expect(run.status).toBe(c.ends);
      const kinds = (await api.engine.runEvents(runId)).map((event) => event.type);
      if (c.fn === "move") {
        // The standby ran it again (it is idempotent) and recorded it once; the holder's writes
        // after the link returned were refused (its fencing token is stale).
        expect(kinds.filter((type) => type === "node_completed")).toHaveLength(1);
        expect(kinds.filter((type) => type === "node_failed")).toEqual([]);
      } else {
        // Not idempotent: the standby does not repeat it, and the node needs a person.
        expect(run.error).toMatchObject({ code: "NODE_INTERRUPTED", nodeId: "n" });
        expect(commands(readJournal(journal)).filter((command) => command.pid === standby.pid)).toEqual([]);
        expect(kinds.filter((type) => type === "node_failed")).toHaveLength(1);
      }
      expectNoTwoHoldersDrove(readJournal(journal));
    },
    60_000,
  );
});
