import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Worker, type ConnectionOptions } from "bullmq";
import type { Logger } from "pino";
import type { DeviceConfig, DriverDefinition } from "../drivers/types.js";
import {
  connectRedis,
  duplicateConnection,
  createWorkerRuntime,
  defaultRunRetention,
  runsQueueName,
  type EventRetention,
  type RunJobData,
  type RunRetention,
} from "../engine/index.js";
import { CommandRegistry } from "./command-registry.js";
import { hostDevice, type HostedDevice } from "./device-host.js";
import { DeviceLeases, type DeviceHold, type LeasedDevice } from "./device-leases.js";
import { jobLockOptions } from "./job-locks.js";
import { watchHalts } from "./halt-watch.js";
import { InFlightNodes } from "./in-flight-nodes.js";
import { repeatSteps } from "./repeat-steps.js";
import { shutdownStop } from "./stop-reasons.js";

export interface WorkerOptions {
  redisUrl: string;
  /** `redisUrl` names a node of a Redis Cluster (REDIS_CLUSTER=1). */
  redisCluster?: boolean;
  prefix: string;
  devices: readonly DeviceConfig[];
  drivers: ReadonlyMap<string, DriverDefinition>;
  log: Logger;
  workerId?: string;
  /**
   * On close, how long running commands may take to finish before they are told to stop (an
   * idempotent one then runs again elsewhere; a non-idempotent one fails NODE_INTERRUPTED).
   */
  shutdownGraceMs?: number;
  /** How many runs this process orchestrates at once; 0 leaves orchestration to other workers. */
  runConcurrency?: number;
  /** How long runs' event streams are kept (RUN_EVENTS_MAX, RUN_EVENTS_TTL_S); default: their defaults. */
  eventRetention?: EventRetention;
  /** How long ended runs are kept (RUN_RETENTION_S) and how often to look (RUN_SWEEP_INTERVAL_MS). */
  runRetention?: RunRetention;
  /** How often a waiting approval's job looks at its node again (default 30 s; see approval-processor.ts). */
  approvalRecheckMs?: number;
}

export interface WorkerHandle {
  workerId: string;
  /** The configured devices another live worker hosts, with that worker's id (see DeviceLeases). */
  refusedDevices(): Map<string, string>;
  close(): Promise<void>;
}

/** Someone (Bull-board, another tool) may change a queue's global concurrency: put it back often. */
const reassertConcurrencyMs = 30_000;
export const defaultShutdownGraceMs = 30_000;
/** How often a worker that orchestrates runs looks for runs that lost their run job. */
const sweepIntervalMs = 30_000;

/**
 * A worker process's body: opens the drivers of the devices it hosts, consumes only their queues
 * (one BullMQ worker per device, capacity enforced in Redis across every process), and runs runs'
 * orchestration jobs. If anything fails on the way up, what was opened is closed again.
 */
export async function startWorker(options: WorkerOptions): Promise<WorkerHandle> {
  const { log } = options;
  // Unique even for two workers in one process: a lease names its holder.
  const workerId = options.workerId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const redis = connectRedis(options.redisUrl, {
    blocking: true,
    name: `rigflow-worker-${workerId}`,
    cluster: options.redisCluster ?? false,
  });
  redis.on("error", (error) => log.warn({ err: error }, "redis connection error"));
  const subscriber = duplicateConnection(redis);
  subscriber.on("error", (error) => log.warn({ err: error }, "redis subscriber error"));
  const runtime = createWorkerRuntime(
    redis,
    options.prefix,
    log,
    options.eventRetention,
    options.runRetention,
    workerId,
    options.approvalRecheckMs,
  );
  const commands = new CommandRegistry();
  const inFlight = new InFlightNodes();
  const connection = redis as ConnectionOptions;
  const hosted: HostedDevice[] = [];
  const workers: Worker[] = [];
  const timers: NodeJS.Timeout[] = [];
  let leases: DeviceLeases | undefined;
  const onActivity = (device: LeasedDevice) => leases?.changedActivity(device);
  // Leases start after the devices' hosts exist; no device is acquired before they do.
  const holdOf = (device: LeasedDevice): DeviceHold => ({
    mayDrive: () => leases?.holdOf(device).mayDrive() ?? false,
    untilMayDrive: (signal) => leases?.holdOf(device).untilMayDrive(signal) ?? Promise.resolve(false),
    held: () => leases?.holdOf(device).held() ?? false,
  });
  let stopWatchingHalts = () => undefined as void;
  let stopRemovingExpiredRuns = () => Promise.resolve();

  const close = async () => {
    for (const timer of timers) clearInterval(timer);
    stopWatchingHalts();
    await stopRemovingExpiredRuns();
    await Promise.all([...workers.map((worker) => worker.close()), ...hosted.map((host) => host.stop())]);
    // Only once the devices are closed may another worker take them.
    await leases?.stop().catch(() => undefined);
    await runtime.close();
    subscriber.disconnect();
    await redis.quit().catch(() => undefined);
  };

  try {
    for (const device of options.devices) {
      const definition = options.drivers.get(device.driver);
      if (!definition) throw new Error(`device '${device.id}': no driver '${device.driver}'`);
      const child = log.child({ deviceId: device.id });
      const host = hostDevice({
        device,
        definition,
        runtime,
        commands,
        inFlight,
        holdOf,
        connection,
        prefix: options.prefix,
        log: child,
        onActivity,
      });
      hosted.push(host);
    }
    leases = new DeviceLeases(
      runtime.leases,
      workerId,
      hosted.map((host) => host.device),
      log,
      () => redis.status === "ready",
    );

    const runConcurrency = options.runConcurrency ?? 50;
    if (runConcurrency > 0) {
      const runWorker = new Worker<RunJobData>(runsQueueName, runtime.processRun, {
        connection,
        prefix: options.prefix,
        concurrency: runConcurrency,
        autorun: false,
        ...jobLockOptions,
      });
      runWorker.on("error", (error) => log.warn({ err: error }, "run worker error"));
      workers.push(runWorker);
      const sweep = () =>
        runtime.sweep().then(
          (woken) =>
            woken > 0 &&
            log.info(
              { woken },
              "gave run jobs to runs that had none (lost, or not yet added by a submission under way)",
            ),
          (error: unknown) => log.warn({ err: error }, "run sweep failed"),
        );
      await sweep();
      timers.push(setInterval(() => void sweep(), sweepIntervalMs));
      stopRemovingExpiredRuns = repeatSteps({
        step: () => runtime.removeExpiredRuns(),
        intervalMs: options.runRetention?.sweepIntervalMs ?? defaultRunRetention.sweepIntervalMs,
        onStep: ({ removed }) => removed > 0 && log.info({ removed }, "removed runs past their retention"),
        onError: (error) => log.warn({ err: error }, "removing runs past their retention failed"),
      });
    }

    const assertConcurrency = () =>
      Promise.all(
        options.devices.map((device) =>
          runtime.queues.device(device.id).setGlobalConcurrency(device.capacity),
        ),
      );
    await assertConcurrency();
    timers.push(setInterval(() => void assertConcurrency().catch(() => undefined), reassertConcurrencyMs));

    await subscriber.subscribe(runtime.keys.cancelChannel);
    subscriber.on("message", (_channel: string, message: string) => {
      // "<run id>" for a cancel, "<run id> timeout" for a run past its timeout (run-halt.ts),
      // "<run id> pause" for an immediate pause.
      const [runId = "", reason] = message.split(" ");
      const stopped = commands.cancelRun(
        runId,
        reason === "timeout" || reason === "pause" ? reason : "cancelled",
      );
      if (stopped > 0) log.info({ runId, stopped }, "cancelled running commands");
    });
    stopWatchingHalts = watchHalts({ redis, subscriber, keys: runtime.keys, commands, log });

    await leases.start();
  } catch (error) {
    await close();
    throw error;
  }
  for (const worker of workers) {
    void worker.run().catch((error: unknown) => log.error({ err: error }, "worker stopped"));
  }
  const started = leases;
  const refused = [...started.refused().keys()];
  const devices = options.devices.map((device) => device.id).filter((id) => !refused.includes(id));
  log.info({ workerId, devices, ...(refused.length > 0 && { refused }) }, "worker ready");
  return {
    workerId,
    refusedDevices: () => started.refused(),
    async close() {
      // BullMQ's close takes no new jobs and waits for the running ones; past the grace period
      // their commands are told to stop, so they end soon after.
      const graceMs = options.shutdownGraceMs ?? defaultShutdownGraceMs;
      const stopping = setTimeout(() => {
        const stopped = commands.abortAll(shutdownStop);
        if (stopped > 0) log.warn({ stopped, graceMs }, "grace period over: stopping running commands");
      }, graceMs);
      await close();
      clearTimeout(stopping);
      log.info({ workerId }, "worker stopped");
    },
  };
}
