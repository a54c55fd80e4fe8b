/** Prints the benchmark's results as a table and one verdict line per target. */
import type { HandoverResult } from "./handover.js";
import type { RecoveryResult } from "./recovery.js";
import { median, percentile } from "./stats.js";

export interface LatencyResult {
  workload: string;
  nodes: number;
  rigflowMs: number[];
  baselineMs: number[];
}

export interface ThroughputResult {
  description: string;
  nodes: number;
  rigflowMs: number[];
  baselineMs: number[];
}

export interface Targets {
  maxRatio: number;
  minNodesPerSecond: number;
  maxHandoverP99Ms: number;
  /** The "at most": held by the slowest repetition, not the median. */
  maxRecoverySeconds: number;
}

export const fixed = (value: number, digits = 2) => value.toFixed(digits);
const samples = (values: readonly number[]) => values.map((value) => value.toFixed(0)).join(" ");

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0)))
      .join("  ");
  return [line(header), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(line)].join("\n");
}

export function printReport(
  latency: LatencyResult[],
  throughput: ThroughputResult,
  handover: HandoverResult[],
  recovery: RecoveryResult[],
  targets: Targets,
): void {
  const verdicts: string[] = [];
  const latencyRows = latency.map((result) => {
    const rigflow = median(result.rigflowMs);
    const baseline = median(result.baselineMs);
    const ratio = rigflow / baseline;
    const met = ratio <= targets.maxRatio;
    verdicts.push(
      `${result.workload}: ratio ${fixed(ratio)} ${met ? "<=" : ">"} ${targets.maxRatio}: ${met ? "met" : "NOT met"}`,
    );
    return [
      result.workload,
      String(result.nodes),
      fixed(rigflow, 1),
      fixed(rigflow / result.nodes, 3),
      fixed(baseline, 1),
      fixed(baseline / result.nodes, 3),
      fixed(ratio),
    ];
  });
  console.log("\nLatency: one run at a time, submit -> run completed (median)\n");
  console.log(
    table(
      ["workload", "nodes", "rigflow ms", "rigflow ms/node", "baseline ms", "baseline ms/node", "ratio"],
      latencyRows,
    ),
  );
  console.log("\nSamples (ms):");
  for (const result of latency) {
    console.log(
      `  ${result.workload.padEnd(14)} rigflow [${samples(result.rigflowMs)}]  baseline [${samples(result.baselineMs)}]`,
    );
  }

  const rate = (ms: number) => (throughput.nodes / ms) * 1000;
  const rigflowRate = rate(median(throughput.rigflowMs));
  const baselineRate = rate(median(throughput.baselineMs));
  console.log(
    `\nThroughput: ${throughput.description} (median wall time, first submit -> last completion)\n`,
  );
  console.log(
    table(
      ["system", "nodes", "wall ms", "nodes/s", "samples (ms)"],
      [
        [
          "rigflow",
          String(throughput.nodes),
          fixed(median(throughput.rigflowMs), 1),
          fixed(rigflowRate, 0),
          samples(throughput.rigflowMs),
        ],
        [
          "baseline",
          String(throughput.nodes),
          fixed(median(throughput.baselineMs), 1),
          fixed(baselineRate, 0),
          samples(throughput.baselineMs),
        ],
      ],
    ),
  );
  const met = rigflowRate >= targets.minNodesPerSecond;
  verdicts.push(
    `throughput: ${fixed(rigflowRate, 0)} nodes/s ${met ? ">=" : "<"} ${targets.minNodesPerSecond}: ${met ? "met" : "NOT met"}`,
  );
  verdicts.push(...printHandover(handover, targets.maxHandoverP99Ms));
  verdicts.push(...printRecovery(recovery, targets.maxRecoverySeconds));
  console.log("\nVerdicts:");
  for (const verdict of verdicts) console.log(`  ${verdict}`);
}

/** Prints the hand-over table and returns its verdicts. */
function printHandover(handover: HandoverResult[], maxP99Ms: number): string[] {
  console.log("\nLock hand-over: one command's end -> the next command's start (Rigflow only)\n");
  console.log(
    table(
      ["case", "samples", "p50 ms", "p99 ms", "max ms"],
      handover.map((result) => [
        result.name,
        String(result.samplesMs.length),
        fixed(percentile(result.samplesMs, 50)),
        fixed(percentile(result.samplesMs, 99)),
        fixed(Math.max(...result.samplesMs)),
      ]),
    ),
  );
  console.log("\nCases:");
  for (const result of handover) console.log(`  ${result.name}: ${result.detail}`);
  return handover.map((result) => {
    const p99 = percentile(result.samplesMs, 99);
    const met = p99 < maxP99Ms;
    return `hand-over, ${result.name}: p99 ${fixed(p99)} ms ${met ? "<" : ">="} ${maxP99Ms} ms: ${met ? "met" : "NOT met"}`;
  });
}

/** Prints the crash-recovery table and returns its verdicts. */
function printRecovery(recovery: RecoveryResult[], maxSeconds: number): string[] {
  const seconds = (values: readonly number[]) => values.map((value) => fixed(value)).join(" ");
  console.log(
    "\nCrash recovery: kill -9 of the worker running a command on a device -> the next command on it, " +
      "under another worker process (Rigflow only)\n",
  );
  console.log(
    table(
      ["case", "kills", "min s", "median s", "max s", "device reopened s (median)"],
      recovery.map((result) => [
        result.name,
        String(result.recoverySeconds.length),
        fixed(Math.min(...result.recoverySeconds)),
        fixed(median(result.recoverySeconds)),
        fixed(Math.max(...result.recoverySeconds)),
        fixed(median(result.openedSeconds)),
      ]),
    ),
  );
  console.log("\nSamples (s): kill -> next command start [kill -> device opened by the new worker]");
  for (const result of recovery) {
    console.log(`  ${result.name}: ${seconds(result.recoverySeconds)} [${seconds(result.openedSeconds)}]`);
  }
  console.log("\nCases:");
  for (const result of recovery) console.log(`  ${result.name}: ${result.detail}`);
  return recovery.map((result) => {
    const max = Math.max(...result.recoverySeconds);
    const met = max <= maxSeconds;
    return `recovery, ${result.name}: max ${fixed(max)} s ${met ? "<=" : ">"} ${maxSeconds} s: ${met ? "met" : "NOT met"}`;
  });
}
