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

/**
 * One servo at `speed`, its holder behind a proxy the test can silence or slow, and (with `standby`)
 * a second worker on a direct link, waiting to take the device over; one run of `node` on it, begun.
 */
async function setUp(
  speed: number,
  node: { function_id: string; params: Record<string, unknown> },
  standby: boolean,
) {
  const { devices, journal } = rig();
  const device = { ...devices[0], options: { ...devices[0]?.options, speed } } as (typeof devices)[0];
  const api = createTestApi([device]);
  closers.push(() => api.close());
  const proxy = await startTcpProxy(Number(new URL(redisUrl()).port));
  proxies.push(proxy);
  const file = writeDevicesFile([device]);
  const holder = await startWorkerProcess(api.prefix, file, { REDIS_URL: proxy.url }, workers);
  const second = standby ? await startWorkerProcess(api.prefix, file, {}, workers) : undefined;
  if (second) expect(second.log()).toContain("is already hosted by worker");
  const { runId } = await api.engine.submitRun({
    document: doc("silent", [{ id: "n", device_id: device.id, ...node }]),
  });
  const commandOf = (pid: number) => commands(readJournal(journal)).find((command) => command.pid === pid);
  await vi.waitFor(() => expect(commandOf(holder.pid)?.steps.length).toBeGreaterThan(0), {
    timeout: 10_000,
    interval: 20,
  });
  return { api, device, journal, proxy, holder, standby: second as WorkerProcess, runId, commandOf };
}

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
      // A 10 s motion: still under way when the standby takes the device.
      const { api, device, journal, proxy, holder, standby, runId, commandOf } = await setUp(
        12,
        { function_id: c.fn, params: c.params },
        true,
      );
      proxy.blackhole(true);
      const silencedAt = Date.now();

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

      // The holder took no step once its lease could have lapsed: its last renewal that landed was
      // sent before the link went silent, so it was sure of the lease for 3.5 s after at most. It
      // holds the servo at its next step (at most a step's time, 1 s, after that). The wait is
      // longer than that: under the whole suite's load on two cores, 3 s once ran out. No step after
      // the hold is allowed either way (below).
      const held = await vi.waitFor(
        () => {
          const hold = commandOf(holder.pid)?.holds.find((entry) => entry.event === "hold");
          expect(hold, "the holder never held its servo").toBeDefined();
          return hold;
        },
        { timeout: 8000, interval: 20 },
      );
      const silenced = commandOf(holder.pid) as JournalCommand;
      expect(silenced.steps.filter((at) => at > silencedAt + 3500)).toEqual([]);
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
      // The command may stop first by the job's lost lock, the refused renewal logged a moment after.
      await vi.waitFor(() => expect(holder.log()).toMatch(/lost the lease on device .* to worker/), {
        timeout: 3000,
        interval: 20,
      });

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

describe("a holder held in doubt of its lease", () => {
  it("stays where it is when its run is cancelled meanwhile, and ends the run once its link is back", async () => {
    const { api, proxy, holder, runId, commandOf } = await setUp(
      10,
      { function_id: "move", params: { position: 150 } },
      false,
    );
    const command = () => commandOf(holder.pid);
    proxy.blackhole(true);
    await vi.waitFor(() => expect(command()?.holds.length).toBeGreaterThan(0), {
      timeout: 8000,
      interval: 20,
    });
    expect(await api.engine.cancelRun(runId)).toBe("running");

    proxy.blackhole(false);
    const returned = Date.now();
    const run = await api.engine.waitForRun(runId, 20_000);
    expect(run.status).toBe("cancelled");
    await vi.waitFor(() => expect(command()?.end).toBeDefined(), { timeout: 3000, interval: 10 });
    // The halt reached the held command: it never moved on.
    expect(command()?.holds.map((hold) => hold.event)).toEqual(["hold"]);
    expect(command()?.steps.filter((at) => at >= returned)).toEqual([]);
    expect(command()?.end?.outcome).toBe("failed");
  }, 60_000);

  it("over a link too slow to keep a lease (renewals answered after 4 s) gives the device up to a standby", async () => {
    const { api, device, journal, proxy, holder, standby, runId, commandOf } = await setUp(
      30,
      { function_id: "move", params: { position: 120 } },
      true,
    );
    proxy.delay(2000); // each way: every renewal's answer comes 4 s after it was sent

    // Its renewals land (Redis keeps the lease for it) but always too late to use: it gives the
    // device up, and the standby, whose link is fine, takes it and runs the move again.
    await waitUntilHolder(api.redis, api.prefix, device.id, standby);
    const run = await api.engine.waitForRun(runId, 30_000);
    expect(run.status).toBe("completed");
    expect(holder.log()).toMatch(/come back too late to use/);
    const kinds = (await api.engine.runEvents(runId)).map((event) => event.type);
    expect(kinds.filter((type) => type === "node_completed")).toHaveLength(1);
    expect(commandOf(standby.pid)?.end?.outcome).toBe("completed");
    expect(commandOf(holder.pid)?.end?.outcome).toBe("failed");
    expectNoTwoHoldersDrove(readJournal(journal));
  }, 60_000);
});
