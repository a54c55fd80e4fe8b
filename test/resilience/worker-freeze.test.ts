import { afterEach, describe, expect, it, vi } from "vitest";
import { createTestApi } from "../support/context.js";
import { commands, expectNoTwoHoldersDrove, readJournal, type JournalCommand } from "../support/journal.js";
import { doc } from "../support/pipelines.js";
import { startWorkerProcess, writeDevicesFile, type WorkerProcess } from "../support/worker-process.js";
import { rig, stopAll, waitUntilHolder } from "./scenario.js";

const workers: WorkerProcess[] = [];
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const worker of workers) if (worker.alive()) process.kill(worker.pid, "SIGCONT");
  await stopAll(workers);
  for (const close of closers.splice(0).reverse()) await close();
});

// A worker that freezes (SIGSTOP: a long GC pause, a paused VM) while a standby takes its device
// over must, when it wakes, stop its command at once and drive the device no further, and the
// ledger must refuse what it then tries to record (its fencing token is stale).
describe("a worker frozen past its lease while a standby takes its device over", () => {
  it.each([
    { fn: "move", params: { position: 120 }, ends: "completed" },
    { fn: "step", params: { delta: 120 }, ends: "failed" },
  ])(
    "stops its $fn when it wakes, drives no further, and the ledger keeps one outcome",
    async (c) => {
      const { devices, journal } = rig();
      const device = { ...devices[0], options: { ...devices[0]?.options, speed: 40 } } as (typeof devices)[0];
      const api = createTestApi([device]);
      closers.push(() => api.close());
      const file = writeDevicesFile([device]);
      const first = await startWorkerProcess(api.prefix, file, {}, workers);
      const standby = await startWorkerProcess(api.prefix, file, {}, workers);
      expect(standby.log()).toContain("is already hosted by worker");

      const { runId } = await api.engine.submitRun({
        document: doc("frozen", [{ id: "n", device_id: device.id, function_id: c.fn, params: c.params }]),
      });
      const started = (pid: number) => () => {
        const found = commands(readJournal(journal)).find((command) => command.pid === pid);
        expect(found?.steps.length).toBeGreaterThan(0);
        return found as JournalCommand;
      };
      await vi.waitFor(started(first.pid), { timeout: 10_000, interval: 20 });
      process.kill(first.pid, "SIGSTOP");
      const frozenAt = Date.now();

      // The standby takes the device once the lease lapses, and the node's job once its lock does.
      await waitUntilHolder(api.redis, api.prefix, device.id, standby);
      if (c.fn === "move") await vi.waitFor(started(standby.pid), { timeout: 15_000, interval: 20 });
      else
        await vi.waitFor(async () => expect((await api.engine.getRun(runId)).status).toBe("failed"), {
          timeout: 15_000,
          interval: 20,
        });
      const wokeAt = Date.now();
      process.kill(first.pid, "SIGCONT");

      // Within a second of waking, the frozen worker has stopped its command, without a step more.
      await vi.waitFor(
        () =>
          expect(
            commands(readJournal(journal)).find((command) => command.pid === first.pid)?.end,
          ).toBeDefined(),
        { timeout: 1000, interval: 10 },
      );
      const stale = commands(readJournal(journal)).find(
        (command) => command.pid === first.pid,
      ) as JournalCommand;
      expect(stale.end?.outcome).not.toBe("completed");
      expect(stale.steps.filter((at) => at >= frozenAt)).toEqual([]);
      expect((stale.end?.at ?? Infinity) - wokeAt).toBeLessThan(1000);

      const run = await api.engine.waitForRun(runId, 15_000);
      expect(run.status).toBe(c.ends);
      const events = await api.engine.runEvents(runId);
      const kinds = events.map((event) => event.type);
      if (c.fn === "move") {
        // The standby ran it again (it is idempotent) and recorded it, once; the frozen worker's
        // writes after waking were refused.
        expect(kinds.filter((type) => type === "node_completed")).toHaveLength(1);
        expect(kinds.filter((type) => type === "node_retrying" || type === "node_failed")).toEqual([]);
      } else {
        // A step is not idempotent: the standby does not repeat it, and the node needs a person.
        expect(run.error).toMatchObject({ code: "NODE_INTERRUPTED", nodeId: "n" });
        expect(commands(readJournal(journal)).filter((command) => command.pid === standby.pid)).toEqual([]);
        expect(kinds.filter((type) => type === "node_failed")).toHaveLength(1);
      }
      expectNoTwoHoldersDrove(readJournal(journal));
      expect(first.log()).toMatch(/frozen for longer than its lease|lost the lease/);
    },
    60_000,
  );
});
