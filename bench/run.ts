/**
 * `npm run bench`: Rigflow against raw BullMQ on one private redis-server, zero-duration nodes on 4
 * mock-servo devices of capacity 1, then Rigflow's lock hand-over on probe devices, then its recovery
 * from a worker process killed mid-command, then live events to WebSocket clients, then what
 * `appendfsync always` costs per node against `everysec`, then how long a halt takes to reach a
 * running command, then the Redis bytes a finished run keeps per node against a raw BullMQ flow. A
 * report, not a test: a missed target still exits 0, a failed or hung run exits non-zero.
 * Sections can be run alone by name: `npm run bench -- ws` (live events), `fsync` (durability),
 * `halt`, `storage` (bytes per node), `scale` (chains and fans up to 10,000 nodes, BENCH_SCALE_SIZES). `npm run bench -- soak` runs the soak, which only runs when
 * named: 100,000 one-node runs (BENCH_SOAK_RUNS) under a short retention, printing Redis memory as
 * it goes, to show it flat once the retention has passed.
 */
import { fileURLToPath } from "node:url";
import { startRedisServer } from "../src/infra/redis-server.js";
import { startBaseline } from "./baseline.js";
import { measureHaltReach, printHaltReach } from "./halt.js";
import { measureHandover } from "./handover.js";
import { haltRecheckMs } from "../src/worker/halt-watch.js";
import { measureRecovery } from "./recovery.js";
import { printReport, type LatencyResult, type ThroughputResult } from "./report.js";
import { startRigflow } from "./rigflow.js";
import { repeat, withTimeout } from "./stats.js";
import { measureFsyncCost } from "./fsync.js";
import { printFsyncCost } from "./fsync-report.js";
import { chain, fanOutIn, independent, type Workload } from "./workloads.js";
import { measureSoak } from "./soak.js";
import { printSoakHeader, printSoakVerdict, soakPointPrinter } from "./soak-report.js";
import { measureScale } from "./scale.js";
import { printClusterComparison, printScale } from "./scale-report.js";
import { measureClusterComparison } from "./scale-cluster.js";
import { measureStorage } from "./storage.js";
import { printStorage } from "./storage-report.js";
import { measureLiveEvents } from "./ws-latency.js";
import { printLiveEvents } from "./ws-report.js";

const repetitions = Number(process.env.BENCH_REPETITIONS ?? 7);
/** JIT and connection warm-up: the first runs of either system are several times slower. */
const warmups = 3;
const concurrentRuns = Number(process.env.BENCH_CONCURRENT_RUNS ?? 40);
const nodesPerConcurrentRun = Number(process.env.BENCH_NODES_PER_RUN ?? 25);
const throughputRepetitions = 5;
/** Per hand-over case: enough for a p99 that is not just the worst sample or two. */
const handoverSamples = Number(process.env.BENCH_HANDOVER_SAMPLES ?? 500);
/** Kills per recovery case: each costs about 10 s (worker start, the lapse of the dead one's locks, a 3 s move). */
const recoveryRepetitions = Number(process.env.BENCH_RECOVERY_REPETITIONS ?? 5);
const targets = { maxRatio: 1.5, minNodesPerSecond: 1000, maxHandoverP99Ms: 20, maxRecoverySeconds: 10 };
const deviceIds = ["servo-1", "servo-2", "servo-3", "servo-4"];
/** Sections named on the command line (`npm run bench -- ws`); none named runs them all. */
const sections = process.argv.slice(2);
const liveEvents = {
  clientCounts: (process.env.BENCH_WS_CLIENTS ?? "1,100,1000").split(",").map(Number),
  nodes: Number(process.env.BENCH_WS_NODES ?? 200),
  maxReceipts: 100_000,
  warmupNodes: 10,
  minDelayMs: 20,
  maxMessagesPerSecond: Number(process.env.BENCH_WS_MAX_MESSAGES ?? 20_000),
  redisHopSamples: 500,
};
const liveTargets = { maxP99Ms: { 100: 20, 1000: 50 }, maxApiRssMb: 200 };
const durability = {
  // Beside the embedded Redis's own data (.data/redis), so on the disk it would fsync to.
  dir: process.env.BENCH_FSYNC_DIR ?? fileURLToPath(new URL("../.data/bench", import.meta.url)),
  deviceIds,
  latency: chain(100, deviceIds),
  throughput: independent(nodesPerConcurrentRun, deviceIds),
  concurrentRuns,
  warmups,
  repetitions: Number(process.env.BENCH_FSYNC_REPETITIONS ?? repetitions),
  throughputRepetitions,
  fdatasyncSamples: 200,
};
/** 1-node and 100-node runs, as many as take a few seconds each; bytes are near exact, so no repetitions. */
const storage = {
  prefix: "bench-storage",
  deviceIds,
  shapes: [
    { workload: { ...independent(1, deviceIds), name: "1-node" }, runs: 200, concurrency: 20 },
    { workload: chain(100, deviceIds), runs: 5, concurrency: 5 },
  ],
};
/**
 * The largest run MAX_NODES allows, on a prefix of its own: its 10,000 jobs, trimmed from their
 * queues as later jobs complete, would otherwise show as negative growth in the shapes after it.
 */
const largeStorage = {
  prefix: "bench-storage-large",
  deviceIds,
  shapes: [{ workload: chain(10_000, deviceIds), runs: 1, concurrency: 1 }],
};
const storageTargets = { maxBytesPerNode: 2048 };
/** Chains and 1-n-1 fans up to 10,000 nodes; the largest are run fewer times (each takes many seconds). */
const scaleSizes = (process.env.BENCH_SCALE_SIZES ?? "100,1000,10000").split(",").map(Number);
const scale = {
  prefix: "bench-scale",
  deviceIds,
  reads: 11,
  cancelWidth: Number(process.env.BENCH_SCALE_CANCEL_WIDTH ?? 4_998),
  concurrentFans: 10,
  shapes: [
    ...scaleSizes.map((size) => chain(size, deviceIds)),
    ...scaleSizes.map((size) => fanOutIn(size - 2, deviceIds)),
    ...(scaleSizes.includes(10_000) ? [fanOutIn(4_998, deviceIds)] : []),
  ].map((workload) => {
    const nodes = workload.nodes.length;
    return { workload, warmups: nodes >= 5_000 ? 1 : 2, repetitions: nodes >= 5_000 ? 3 : 5 };
  }),
};
const scaleTargets = {
  maxRatio: 1.5,
  maxGrowth: 1.2,
  maxCommandMs: 10,
  maxReadRunMs: 100,
  maxCancelMs: 2000,
  minNodesPerSecond: 1500,
};
/** A retention of 20 s passes a few times in a soak of some minutes; one sweep a second keeps up with it. */
const soak = {
  runs: Number(process.env.BENCH_SOAK_RUNS ?? 100_000),
  inFlight: Number(process.env.BENCH_SOAK_IN_FLIGHT ?? 200),
  pointEvery: Number(process.env.BENCH_SOAK_POINT_EVERY ?? 5_000),
  retention: { runRetentionS: Number(process.env.BENCH_SOAK_RETENTION_S ?? 20), sweepIntervalMs: 1_000 },
  deviceIds,
};
/** Flat: used_memory at most 10 % above the first point past one retention window. */
const soakTargets = { maxGrowth: 0.1 };
/** "soak" runs only when named: it takes minutes. */
const knownSections = ["ws", "fsync", "halt", "storage", "scale", "soak"];
/** Cancels per path (pub/sub delivered, message lost): each costs about a second. */
const haltSamples = Number(process.env.BENCH_HALT_SAMPLES ?? 10);

interface Harness {
  timeRun(workload: Workload): Promise<number>;
  timeConcurrentRuns(workload: Workload, count: number): Promise<number>;
  close(): Promise<void>;
}

interface Measured {
  latency: number[][];
  throughput: number[];
}

const latencyWorkloads = [chain(100, deviceIds), fanOutIn(100, deviceIds)];
const throughputWorkload = independent(nodesPerConcurrentRun, deviceIds);

/** Warm-up then timed repetitions of each latency workload, then the concurrent-runs throughput. */
async function measure(name: string, harness: Harness): Promise<Measured> {
  try {
    const latency: number[][] = [];
    for (const workload of latencyWorkloads) {
      process.stderr.write(`${name}: ${workload.name} x ${repetitions} (+${warmups} warm-up)\n`);
      latency.push(await repeat(warmups, repetitions, () => harness.timeRun(workload)));
    }
    process.stderr.write(
      `${name}: ${concurrentRuns} concurrent runs x ${throughputRepetitions} (+${warmups} warm-up)\n`,
    );
    const throughput = await repeat(warmups, throughputRepetitions, () =>
      harness.timeConcurrentRuns(throughputWorkload, concurrentRuns),
    );
    return { latency, throughput };
  } finally {
    await withTimeout(harness.close(), 15_000, `${name}: closing`);
  }
}

async function main(): Promise<void> {
  const redis = await startRedisServer();
  process.stderr.write(`redis-server on ${redis.url} (pid ${redis.pid})\n`);
  try {
    const unknown = sections.filter((section) => !knownSections.includes(section));
    if (unknown.length > 0) {
      throw new Error(`unknown bench section(s) ${unknown.join(", ")}; known: ${knownSections.join(", ")}`);
    }
    if (sections.length > 0) {
      if (sections.includes("ws")) await liveEventsSection(redis.url);
      if (sections.includes("fsync")) await durabilitySection();
      if (sections.includes("halt")) await haltSection(redis.url);
      if (sections.includes("storage")) await storageSection(redis.url);
      if (sections.includes("scale")) await scaleSection(redis.url);
      if (sections.includes("soak")) await soakSection();
      return;
    }
    const rigflow = await measure("rigflow", await startRigflow(redis.url, "bench-rigflow", deviceIds));
    const baseline = await measure("baseline", await startBaseline(redis.url, "bench-baseline", deviceIds));
    const handover = await measureHandover(redis.url, "bench-handover", {
      samples: handoverSamples,
      warmups,
    });
    const recovery = await measureRecovery(redis.url, "bench-recovery", recoveryRepetitions);
    const latency: LatencyResult[] = latencyWorkloads.map((workload, i) => ({
      workload: workload.name,
      nodes: workload.nodes.length,
      rigflowMs: rigflow.latency[i] ?? [],
      baselineMs: baseline.latency[i] ?? [],
    }));
    const throughput: ThroughputResult = {
      description: `${concurrentRuns} concurrent runs x ${nodesPerConcurrentRun} independent nodes`,
      nodes: concurrentRuns * nodesPerConcurrentRun,
      rigflowMs: rigflow.throughput,
      baselineMs: baseline.throughput,
    };
    console.log(
      `Rigflow bench: ${deviceIds.length} mock-servo devices (capacity 1), zero-duration "status" nodes,`,
    );
    console.log(
      `median of ${repetitions} timed runs after ${warmups} warm-up runs; baseline = raw BullMQ on the same redis-server.`,
    );
    printReport(latency, throughput, handover, recovery, targets);
    await liveEventsSection(redis.url);
    await durabilitySection();
    await haltSection(redis.url);
    await storageSection(redis.url);
    await scaleSection(redis.url);
  } finally {
    await redis.stop();
  }
}

async function liveEventsSection(redisUrl: string): Promise<void> {
  const result = await measureLiveEvents(redisUrl, "bench-live", liveEvents);
  const verdicts = printLiveEvents(result, liveTargets);
  console.log("\nVerdicts (live events):");
  for (const verdict of verdicts) console.log(`  ${verdict}`);
}

/** On redis-servers of its own, with AOF on: the shared one keeps nothing on disk. */
async function durabilitySection(): Promise<void> {
  printFsyncCost(await measureFsyncCost(durability));
}

async function haltSection(redisUrl: string): Promise<void> {
  printHaltReach(await measureHaltReach(redisUrl, "bench-halt", haltSamples), haltRecheckMs);
}

async function storageSection(redisUrl: string): Promise<void> {
  const measured = [
    ...(await measureStorage(redisUrl, storage)),
    ...(await measureStorage(redisUrl, largeStorage)),
  ];
  const verdicts = printStorage(measured, storageTargets.maxBytesPerNode);
  console.log("\nVerdicts (storage):");
  for (const verdict of verdicts) console.log(`  ${verdict}`);
}

async function scaleSection(redisUrl: string): Promise<void> {
  const verdicts = printScale(await measureScale(redisUrl, scale), scaleTargets);
  printClusterComparison(
    await measureClusterComparison(redisUrl, {
      prefix: "bench-scale",
      deviceIds,
      workloads: [chain(100, deviceIds), fanOutIn(98, deviceIds)],
      warmups: 3,
      repetitions: 7,
    }),
  );
  console.log("\nVerdicts (scale):");
  for (const verdict of verdicts) console.log(`  ${verdict}`);
}

/** On a redis-server of its own (soak.ts): the shared one's memory holds the other sections' keys. */
async function soakSection(): Promise<void> {
  const result = await measureSoak(soak, {
    onReady: () => printSoakHeader(soak),
    onPoint: soakPointPrinter(),
  });
  console.log("\nVerdicts (soak):");
  for (const verdict of printSoakVerdict(result, soakTargets.maxGrowth)) console.log(`  ${verdict}`);
}

/** If anything still holds the event loop open after main, say so and leave anyway. */
function exitSoon(): void {
  setTimeout(() => {
    console.error("bench: handles were still open 5 s after the end; exiting");
    process.exit(process.exitCode ?? 1);
  }, 5_000).unref();
}

main().then(exitSoon, (error: unknown) => {
  console.error("bench FAILED:", error instanceof Error ? (error.stack ?? error.message) : error);
  process.exitCode = 1;
  exitSoon();
});
