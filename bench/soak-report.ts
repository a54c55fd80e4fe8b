/** Prints the soak's curve as it is taken, then whether memory stayed flat. */
import { fixed } from "./report.js";
import type { SoakOptions, SoakPoint, SoakResult } from "./soak.js";

const columns = [
  ["runs done", 10],
  ["used_memory MB", 15],
  ["keys", 9],
  ["runs stored", 12],
  ["removed", 9],
  ["elapsed s", 10],
  ["runs/s", 7],
  ["removed/s", 10],
] as const;

const mb = (bytes: number) => fixed(bytes / 1024 / 1024, 1);

export function printSoakHeader(options: SoakOptions): void {
  console.log(
    `\nSoak: ${options.runs} one-node runs, ${options.inFlight} in flight, retention ` +
      `${options.retention.runRetentionS} s (swept every ${options.retention.sweepIntervalMs} ms), ` +
      `a point every ${options.pointEvery} runs; a redis-server of its own\n`,
  );
  console.log(
    columns.map(([name, width], i) => (i === 0 ? name.padEnd(width) : name.padStart(width))).join("  "),
  );
  console.log(columns.map(([, width]) => "-".repeat(width)).join("  "));
}

/**
 * Returns the printer of the curve's points, one line each as they come. The rates are over the
 * interval since the previous point: runs completed, and runs the retention removed, per second.
 */
export function soakPointPrinter(): (point: SoakPoint) => void {
  let previous: SoakPoint | undefined;
  return (point) => {
    const rate = (of: (p: SoakPoint) => number) =>
      previous === undefined || point.elapsedS === previous.elapsedS
        ? "-"
        : fixed((of(point) - of(previous)) / (point.elapsedS - previous.elapsedS), 0);
    printSoakPoint(
      point,
      rate((p) => p.runsDone),
      rate((p) => p.runsRemoved),
    );
    previous = point;
  };
}

function printSoakPoint(point: SoakPoint, runRate: string, removalRate: string): void {
  const cells = [
    String(point.runsDone),
    mb(point.usedMemory),
    String(point.keys),
    String(point.runsStored),
    String(point.runsRemoved),
    fixed(point.elapsedS, 1),
    runRate,
    removalRate,
  ];
  const note = point.final
    ? "  final, retention passed for every run"
    : point.retentionPassed
      ? "  after the retention window"
      : "";
  console.log(
    cells
      .map((cell, i) => (i === 0 ? cell.padEnd(columns[i]?.[1] ?? 0) : cell.padStart(columns[i]?.[1] ?? 0)))
      .join("  ") + note,
  );
}

/**
 * Flat: memory under load at the last point, and after the drain, against the first point past one
 * retention window (from there on about as many runs are removed as end). Returns the verdicts.
 */
export function printSoakVerdict(result: SoakResult, maxGrowth: number): string[] {
  const loaded = result.points.filter((point) => !point.final);
  const reference = loaded.find((point) => point.retentionPassed);
  const last = loaded.at(-1);
  const final = result.points.find((point) => point.final);
  const verdicts: string[] = [];
  if (!result.drained) {
    verdicts.push(
      `soak: ${final?.runsStored ?? "?"} runs still stored at the end, long after their retention: MISSED`,
    );
  }
  if (!reference || !last || !final) {
    verdicts.push(
      "soak: no point was taken after one retention window: MISSED (raise BENCH_SOAK_RUNS or lower BENCH_SOAK_RETENTION_S)",
    );
    return verdicts;
  }
  const judge = (what: string, point: SoakPoint) => {
    const ratio = point.usedMemory / reference.usedMemory;
    const met = ratio <= 1 + maxGrowth;
    return (
      `soak, ${what}: used_memory ${mb(point.usedMemory)} MB / ${mb(reference.usedMemory)} MB at ` +
      `${reference.runsDone} runs = ${fixed(ratio, 3)} ${met ? "<=" : ">"} ${fixed(1 + maxGrowth)}: ${met ? "PASS" : "MISSED"}`
    );
  };
  verdicts.push(judge(`under load (${last.runsDone} runs)`, last));
  verdicts.push(judge("at the end (every run removed)", final));
  return verdicts;
}
