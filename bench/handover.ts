/**
 * Lock hand-over: from one command's end to the next command's start, as a probe driver in this
 * process sees them. The gap holds everything Rigflow does between two commands: recording the
 * completion, adding the next job, a worker fetching it and beginning the attempt.
 */
import type { DeviceConfig } from "../src/drivers/types.js";
import { createProbe, probeDriverName, probeFunctionId, type ProbeCall } from "./probe-driver.js";
import { openRigflow } from "./rigflow.js";
import { settleAll, waitUntil, withTimeout } from "./stats.js";
import { chain, toDocument, type Workload } from "./workloads.js";

export interface HandoverResult {
  name: string;
  /** What was run and what one sample is. */
  detail: string;
  samplesMs: number[];
}

export interface HandoverOptions {
  /** Gaps kept per case. */
  samples: number;
  /** Untimed runs (or rounds of runs) before each case, for JIT and connection warm-up. */
  warmups: number;
}

const idleDevices = ["probe-a", "probe-b"];
const contendedDevice = "probe-c";
/** 100 gaps per run. */
const chainLength = 101;
const contendingRuns = 20;
/** 1, 2, 3, 1, ... nodes: the device sees runs begin, go on and end while others wait. */
const contendingLengths = Array.from({ length: contendingRuns }, (_, i) => 1 + (i % 3));
const contendingCommands = contendingLengths.reduce((sum, length) => sum + length, 0);

export async function measureHandover(
  redisUrl: string,
  prefix: string,
  options: HandoverOptions,
): Promise<HandoverResult[]> {
  const probe = createProbe();
  const devices: DeviceConfig[] = [...idleDevices, contendedDevice].map((id) => ({
    id,
    driver: probeDriverName,
    capacity: 1,
    options: {},
  }));
  const rigflow = await openRigflow(
    redisUrl,
    prefix,
    devices,
    new Map([[probeDriverName, probe.definition]]),
  );
  let sequence = 0;
  const run = (workload: Workload) => {
    sequence += 1;
    return rigflow.run(toDocument(`handover-${workload.name}-${sequence}`, workload, probeFunctionId));
  };

  /** One chain whose nodes alternate devices: each node becomes ready while its device is idle. */
  async function idleRound(): Promise<number[]> {
    await run(chain(chainLength, idleDevices));
    const calls = byStart(probe.take(), chainLength);
    calls.forEach((call, i) => {
      if (i > 0 && call.device === calls[i - 1]?.device) {
        throw new Error(`hand-over: consecutive chain nodes ran on ${call.device}; expected alternation`);
      }
    });
    return gapsBetween(calls);
  }

  /**
   * Many short runs on one device of capacity 1. Its queue is held until every run's first node
   * waits on it, so that each gap is the lock passing to a waiting command, never the device
   * waiting for work to be submitted.
   */
  async function contendedRound(): Promise<number[]> {
    const queue = rigflow.engine.queues.device(contendedDevice);
    await queue.pause();
    let runs: Promise<void>[] = [];
    try {
      runs = contendingLengths.map((length) => run(chain(length, [contendedDevice])));
      await waitUntil(
        async () => (await queue.getWaitingCount()) >= contendingRuns,
        10_000,
        `hand-over: ${contendingRuns} first nodes waiting on ${contendedDevice}`,
      );
    } finally {
      await queue.resume();
      await settleAll(runs);
    }
    return gapsBetween(byStart(probe.take(), contendingCommands));
  }

  try {
    process.stderr.write(
      `handover: idle device, ${options.samples} gaps (+${options.warmups} warm-up runs)\n`,
    );
    const idle = await collect(options, idleRound);
    process.stderr.write(
      `handover: contended device, ${options.samples} gaps (+${options.warmups} warm-up rounds)\n`,
    );
    const contended = await collect(options, contendedRound);
    return [
      {
        name: "ready on an idle device",
        detail:
          `${chainLength}-node chains alternating ${idleDevices.length} devices, one run at a time; ` +
          "predecessor's command end (other device) -> this node's command start",
        samplesMs: idle,
      },
      {
        name: "contended device",
        detail:
          `${contendingRuns} concurrent runs of 1-3 nodes, all on one device of capacity 1; ` +
          "one command's end -> the next command's start on it",
        samplesMs: contended,
      },
    ];
  } finally {
    await withTimeout(rigflow.close(), 15_000, "handover: closing");
  }
}

/** Warm-up rounds, then rounds until there are `samples` gaps; keeps exactly that many. */
async function collect(options: HandoverOptions, round: () => Promise<number[]>): Promise<number[]> {
  for (let i = 0; i < options.warmups; i += 1) await round();
  const gaps: number[] = [];
  while (gaps.length < options.samples) gaps.push(...(await round()));
  return gaps.slice(0, options.samples);
}

function byStart(calls: readonly ProbeCall[], expected: number): ProbeCall[] {
  if (calls.length !== expected) {
    throw new Error(`hand-over: expected ${expected} commands in a round, the probe saw ${calls.length}`);
  }
  return [...calls].sort((a, b) => a.start - b.start);
}

/** For each command but the first, its start less the end of the one before it. */
function gapsBetween(calls: readonly ProbeCall[]): number[] {
  return calls.slice(1).map((call, i) => {
    const previous = calls[i] as ProbeCall;
    const gap = call.start - previous.end;
    if (gap < 0)
      throw new Error(`hand-over: commands on ${call.device} overlapped by ${(-gap).toFixed(3)} ms`);
    return gap;
  });
}
