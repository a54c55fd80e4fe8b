/** Rigflow as the benchmark drives it: one Engine and one in-process worker on a private prefix. */
import { pino, type Logger } from "pino";
import { drivers } from "../src/drivers/registry.js";
import type { DeviceConfig, DriverDefinition } from "../src/drivers/types.js";
import {
  connectRedis,
  createCatalog,
  defaultLimits,
  Engine,
  type Limits,
  type RunRequest,
  type RunRetention,
  untilReady,
} from "../src/engine/index.js";
import { startWorker } from "../src/worker/worker.js";
import { timings } from "./stats.js";
import { toDocument, type Workload } from "./workloads.js";

export interface RigflowHarness {
  /** Submits one run of the workload and resolves with the ms from submit to completed. */
  timeRun(workload: Workload): Promise<number>;
  /** Submits `count` runs at once and resolves with the ms from first submit to last completion. */
  timeConcurrentRuns(workload: Workload, count: number): Promise<number>;
  close(): Promise<void>;
}

export interface InProcessRigflow {
  engine: Engine;
  /** Submits the document as a run and resolves once it has completed; any other end throws. */
  run(document: Record<string, unknown>): Promise<void>;
  /** Submits the request as a run and resolves with its id once it has completed; any other end throws. */
  runRequest(request: RunRequest): Promise<string>;
  close(): Promise<void>;
}

export interface RigflowOptions {
  /** The worker's run retention; its default if absent. */
  runRetention?: RunRetention;
  /** The worker's; silent if absent. */
  log?: Logger;
  /** A run not ended after this long is a hang: the bench fails. */
  runTimeoutMs?: number;
  /** The Engine's document limits; the defaults if absent. */
  limits?: Limits;
  /** `redisUrl` names a node of a Redis Cluster (then `prefix` must be a hash tag, `{...}`). */
  cluster?: boolean;
}

export const mockServos = (ids: readonly string[]): DeviceConfig[] =>
  ids.map((id) => ({ id, driver: "mock-servo", capacity: 1, options: {} }));

export async function openRigflow(
  redisUrl: string,
  prefix: string,
  devices: readonly DeviceConfig[],
  definitions: ReadonlyMap<string, DriverDefinition>,
  options: RigflowOptions = {},
): Promise<InProcessRigflow> {
  const runTimeoutMs = options.runTimeoutMs ?? 60_000;
  const cluster = options.cluster ?? false;
  const redis = connectRedis(redisUrl, { blocking: false, name: "bench-engine", cluster });
  // A cluster's client that is not blocking fails commands until it is first ready.
  if (cluster) await untilReady(redis, 10_000);
  const engine = new Engine(
    redis,
    prefix,
    createCatalog(devices, definitions.values()),
    options.limits ?? defaultLimits,
  );
  const worker = await startWorker({
    redisUrl,
    redisCluster: cluster,
    prefix,
    devices,
    drivers: definitions,
    log: options.log ?? pino({ level: "silent" }),
    ...(options.runRetention ? { runRetention: options.runRetention } : {}),
  });
  const runRequest = async (request: RunRequest): Promise<string> => {
    const { runId } = await engine.submitRun(request);
    // The overview: reading every node of a 10,000-node run would be the slowest command measured.
    const overview = await engine.waitForRunOverview(runId, runTimeoutMs);
    if (overview.status !== "completed") {
      const state = await engine.getRun(runId);
      const stuck = state.nodes.filter((node) => node.status !== "completed").slice(0, 5);
      const of = request.pipelineId ?? String((request.document as { id?: unknown } | undefined)?.id);
      throw new Error(
        `Rigflow run ${runId} (${of}) ended ${state.status} (waited up to ${runTimeoutMs} ms); ` +
          `error: ${JSON.stringify(state.error)}; first unfinished nodes: ${JSON.stringify(stuck)}`,
      );
    }
    return runId;
  };
  return {
    engine,
    runRequest,
    async run(document) {
      await runRequest({ document });
    },
    async close() {
      await worker.close();
      await engine.close();
      await redis.quit();
    },
  };
}

export async function startRigflow(
  redisUrl: string,
  prefix: string,
  deviceIds: readonly string[],
): Promise<RigflowHarness> {
  const rigflow = await openRigflow(redisUrl, prefix, mockServos(deviceIds), drivers);
  let sequence = 0;
  return {
    ...timings((workload: Workload) => {
      sequence += 1;
      return rigflow.run(toDocument(`bench-${workload.name}-${sequence}`, workload));
    }),
    close: () => rigflow.close(),
  };
}
