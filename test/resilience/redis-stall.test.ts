import { afterEach, describe, expect, it, vi } from "vitest";
import { startRedisServer, type RedisServerHandle } from "../../src/infra/redis-server.js";
import { createTestApi, servo } from "../support/context.js";
import { commands, expectNoTwoHoldersDrove, readJournal } from "../support/journal.js";
import { doc } from "../support/pipelines.js";
import { startWorkerProcess, writeDevicesFile, type WorkerProcess } from "../support/worker-process.js";
import { rig, stopAll } from "./scenario.js";

const workers: WorkerProcess[] = [];
const closers: (() => Promise<unknown>)[] = [];
let server: RedisServerHandle | undefined;
afterEach(async () => {
  if (server) process.kill(server.pid, "SIGCONT");
  await stopAll(workers);
  for (const close of closers.splice(0).reverse()) await close();
  await server?.stop();
  server = undefined;
});

/** How long Redis is frozen: longer than the job locks (4 s) and the device leases (4 s). */
const stallMs = 5000;

// Redis frozen (SIGSTOP) for longer than any lock or lease: when it wakes, every job lock has
// lapsed, so BullMQ's stall check hands each running job back to its queue, and a device of
// capacity 2 has a free slot to take it while the first attempt is still running. The device's
// lease runs on the lease clock, which a frozen Redis does not advance, so the standby worker does
// not take the device either. The holder cannot tell a stall from a silent link, so past its margin
// it holds its servos where they are, and drives on when its renewal lands. Nothing else may
// change: each command runs once and each run completes.
describe("Redis frozen for longer than any lock or lease", () => {
  it("changes nothing: each command runs once, on its holder, and every run completes", async () => {
    server = await startRedisServer();
    const { journal } = rig();
    // A 10 s move and a 10 s step (not idempotent), each on a servo of capacity 2 with a slot free:
    // both still running when Redis wakes and the stall check hands their jobs out again.
    const devices = ["duo-1", "duo-2"].map((id) => ({ ...servo(id, { speed: 12, journal }), capacity: 2 }));
    const api = createTestApi(devices, { redisUrl: server.url });
    closers.push(() => api.close());
    const { engine, prefix } = api;
    const file = writeDevicesFile(devices);
    const holder = await startWorkerProcess(prefix, file, { REDIS_URL: server.url }, workers);
    const standby = await startWorkerProcess(prefix, file, { REDIS_URL: server.url }, workers);
    expect(standby.log()).toContain("is already hosted by worker");

    const runs = await Promise.all([
      engine.submitRun({
        document: doc("stall_move", [
          { id: "n", device_id: "duo-1", function_id: "move", params: { position: 120 } },
        ]),
      }),
      engine.submitRun({
        document: doc("stall_step", [
          { id: "n", device_id: "duo-2", function_id: "step", params: { delta: 120 } },
        ]),
      }),
    ]);
    await vi.waitFor(
      () =>
        expect(commands(readJournal(journal)).filter((command) => command.steps.length > 0)).toHaveLength(2),
      { timeout: 10_000, interval: 20 },
    );
    process.kill(server.pid, "SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, stallMs)); // the fault's length, not a wait for it
    process.kill(server.pid, "SIGCONT");

    const ended = await Promise.all(runs.map(({ runId }) => engine.waitForRun(runId, 20_000)));
    expect(ended.map((run) => [run.status, run.error?.code ?? null])).toEqual([
      ["completed", null],
      ["completed", null],
    ]);
    for (const run of ended) {
      const events = await engine.runEvents(run.runId);
      expect(events.filter((event) => event.type === "node_executing")).toHaveLength(1);
      expect(events.filter((event) => event.type === "node_completed")).toHaveLength(1);
      expect(
        events.filter((event) => event.type === "node_retrying" || event.type === "node_failed"),
      ).toEqual([]);
    }
    // The devices' own account: two commands, one each, both completed, both by the holder.
    const ran = commands(readJournal(journal)).sort((a, b) => a.device.localeCompare(b.device));
    expect(
      ran.map((command) => [command.device, command.function, command.pid, command.end?.outcome]),
    ).toEqual([
      ["duo-1", "move", holder.pid, "completed"],
      ["duo-2", "step", holder.pid, "completed"],
    ]);
    // The holder could not tell the stall from a silent link, so it held each servo where it was
    // until its lease renewal landed, then drove on.
    for (const command of ran) {
      expect(command.holds[0]?.event, command.device).toBe("hold");
      expect(command.holds.at(-1)?.event, command.device).toBe("resume");
    }
    expectNoTwoHoldersDrove(readJournal(journal));
    expect(standby.log()).not.toContain("took over the device's lease");
  }, 60_000);

  it("does not count the time a command was held against its node's timeout", async () => {
    server = await startRedisServer();
    const { journal } = rig();
    const device = servo("s", { speed: 12, journal });
    const api = createTestApi([device], { redisUrl: server.url });
    closers.push(() => api.close());
    const file = writeDevicesFile([device]);
    const holder = await startWorkerProcess(api.prefix, file, { REDIS_URL: server.url }, workers);
    // 5 s of motion within a 7 s timeout, and a retry that would run the step a second time: the
    // stall below (8 s, about 5 s of it held) would time the step out if the hold counted.
    const { runId } = await api.engine.submitRun({
      document: doc("stall_timeout", [
        {
          id: "n",
          device_id: "s",
          function_id: "step",
          params: { delta: 60 },
          timeout_ms: 7000,
          retry: { attempts: 2, backoff_ms: 100 },
        },
      ]),
    });
    await vi.waitFor(() => expect(commands(readJournal(journal))[0]?.steps.length).toBeGreaterThan(1), {
      timeout: 10_000,
      interval: 20,
    });
    process.kill(server.pid, "SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, 8000)); // the fault's length, not a wait for it
    process.kill(server.pid, "SIGCONT");

    const run = await api.engine.waitForRun(runId, 20_000);
    expect([run.status, run.error?.code ?? null]).toEqual(["completed", null]);
    const kinds = (await api.engine.runEvents(runId)).map((event) => event.type);
    expect(kinds.filter((type) => type === "node_executing" || type === "node_retrying")).toEqual([
      "node_executing",
    ]);
    const ran = commands(readJournal(journal));
    expect(ran.map((command) => [command.pid, command.end?.outcome])).toEqual([[holder.pid, "completed"]]);
    expect(ran[0]?.holds.map((hold) => hold.event)).toContain("resume");
  }, 60_000);
});
