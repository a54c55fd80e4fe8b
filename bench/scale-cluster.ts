/**
 * Single Redis against a local 3-master Redis Cluster (REDIS_CLUSTER=1: one hash slot, so one
 * master holds the deployment): the same small shapes, one run at a time, each on a fresh
 * hash-tagged prefix. What the cluster client and its routing cost per node.
 */
import { performance } from "node:perf_hooks";
import { drivers } from "../src/drivers/registry.js";
import { clusterPrefix } from "../src/engine/index.js";
import { startRedisCluster } from "../src/infra/redis-cluster.js";
import { mockServos, openRigflow } from "./rigflow.js";
import { median, repeat, withTimeout } from "./stats.js";
import { toDocument, type Workload } from "./workloads.js";

export interface ClusterComparison {
  workload: Workload;
  singleMs: number;
  clusterMs: number;
}

export async function measureClusterComparison(
  redisUrl: string,
  options: {
    prefix: string;
    deviceIds: readonly string[];
    workloads: Workload[];
    warmups: number;
    repetitions: number;
  },
): Promise<ClusterComparison[]> {
  const cluster = await startRedisCluster(3);
  try {
    const single = await timeShapes(redisUrl, false, `${options.prefix}-single`, options);
    const clustered = await timeShapes(cluster.url, true, `${options.prefix}-cluster`, options);
    return options.workloads.map((workload, i) => ({
      workload,
      singleMs: single[i] ?? NaN,
      clusterMs: clustered[i] ?? NaN,
    }));
  } finally {
    await cluster.stop();
  }
}

/** The median ms of one run of each workload, in order. */
async function timeShapes(
  redisUrl: string,
  cluster: boolean,
  prefix: string,
  options: { deviceIds: readonly string[]; workloads: Workload[]; warmups: number; repetitions: number },
): Promise<number[]> {
  const rigflow = await openRigflow(
    redisUrl,
    clusterPrefix(prefix, true),
    mockServos(options.deviceIds),
    drivers,
    {
      cluster,
    },
  );
  try {
    const medians: number[] = [];
    let sequence = 0;
    for (const workload of options.workloads) {
      process.stderr.write(
        `scale: ${cluster ? "cluster" : "single"} ${workload.name} x ${options.repetitions}\n`,
      );
      const times = await repeat(options.warmups, options.repetitions, async () => {
        sequence += 1;
        const start = performance.now();
        await rigflow.run(toDocument(`cluster-${workload.name}-${sequence}`, workload));
        return performance.now() - start;
      });
      medians.push(median(times));
    }
    return medians;
  } finally {
    await withTimeout(
      rigflow.close(),
      30_000,
      `scale: closing the ${cluster ? "cluster" : "single"} rigflow`,
    );
  }
}
