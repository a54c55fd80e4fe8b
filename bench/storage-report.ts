/** Prints the storage section: bytes per node against BullMQ, then what kind of key the bytes are in. */
import { keyKinds, totalBytes, type Footprint, type KeyKind } from "./redis-footprint.js";
import { fixed, table } from "./report.js";
import type { ShapeStorage } from "./storage.js";

/**
 * The kinds of key that grow with every run and stay until its retention passes. The others are
 * bounded whatever the number of runs: the global and BullMQ event streams are capped (about 10,000
 * entries each), and each queue keeps its newest 100 completed and 1000 failed jobs (keptJobs in
 * src/engine/redis/queues.ts), so over many runs their share per node tends to 0.
 */
const keptPerRun: readonly KeyKind[] = [
  "run hash",
  "nodes hash",
  "outputs hash",
  "run event stream",
  "run indexes",
  "pipelines, plans",
  "other",
];

/** Prints the section and returns its verdicts. */
export function printStorage(results: readonly ShapeStorage[], maxBytesPerNode: number): string[] {
  const nodesOf = (result: ShapeStorage) => result.shape.runs * result.shape.workload.nodes.length;
  const perNode = (result: ShapeStorage, footprint: Footprint) => totalBytes(footprint) / nodesOf(result);
  const keysPerRun = (result: ShapeStorage, footprint: Footprint) =>
    [...footprint.values()].reduce((sum, { keys }) => sum + keys, 0) / result.shape.runs;

  console.log(
    "\nStorage: Redis bytes per node of a finished run, events included (MEMORY USAGE <key> SAMPLES 0 " +
      "summed over every key of a fresh prefix, after - before the runs; a warm-up run of each shape first)\n",
  );
  console.log(
    table(
      [
        "shape",
        "runs",
        "nodes",
        "rigflow B/node",
        "bullmq B/node",
        "ratio",
        "rigflow keys/run",
        "bullmq keys/run",
      ],
      results.map((result) => [
        result.shape.workload.name,
        String(result.shape.runs),
        String(nodesOf(result)),
        fixed(perNode(result, result.rigflow), 0),
        fixed(perNode(result, result.bullmq), 0),
        fixed(perNode(result, result.rigflow) / perNode(result, result.bullmq)),
        fixed(keysPerRun(result, result.rigflow), 1),
        fixed(keysPerRun(result, result.bullmq), 1),
      ]),
    ),
  );

  console.log("\nSplit by kind of key (bytes per node; the share of the system's total)\n");
  const cell = (result: ShapeStorage, footprint: Footprint, kind: (typeof keyKinds)[number]) => {
    const bytes = footprint.get(kind)?.bytes ?? 0;
    const share = totalBytes(footprint) === 0 ? 0 : (bytes / totalBytes(footprint)) * 100;
    if (bytes === 0) return "-";
    // A fixed key rewritten meanwhile (a device's record) moves a few bytes either way: no "-0".
    const zeroless = (value: number, digits: number) => fixed(value, digits).replace(/^-(0\.?0*)$/, "$1");
    return `${zeroless(bytes / nodesOf(result), 0)} (${zeroless(share, 0)}%)`;
  };
  // Kinds no system grew in (a reservation's keys, say) would only be rows of dashes.
  const kinds = keyKinds.filter((kind) =>
    results.some(
      (result) => (result.rigflow.get(kind)?.bytes ?? 0) !== 0 || (result.bullmq.get(kind)?.bytes ?? 0) !== 0,
    ),
  );
  console.log(
    table(
      [
        "kind of key",
        ...results.flatMap((result) => [
          `${result.shape.workload.name} rigflow`,
          `${result.shape.workload.name} bullmq`,
        ]),
      ],
      [
        ...kinds.map((kind) => [
          kind,
          ...results.flatMap((result) => [
            cell(result, result.rigflow, kind),
            cell(result, result.bullmq, kind),
          ]),
        ]),
        [
          "total",
          ...results.flatMap((result) => [
            fixed(perNode(result, result.rigflow), 0),
            fixed(perNode(result, result.bullmq), 0),
          ]),
        ],
      ],
    ),
  );
  console.log(
    "\n  The global event stream and BullMQ's per-queue event streams are capped (about 10,000 entries each):" +
      "\n  their share is what these runs added, and tends to 0 per node over many runs.",
  );

  const keptPerNode = (result: ShapeStorage) =>
    keptPerRun.reduce((sum, kind) => sum + (result.rigflow.get(kind)?.bytes ?? 0), 0) / nodesOf(result);
  console.log(
    "  Kept per run until its retention passes (" +
      keptPerRun.slice(0, -1).join(", ") +
      "): " +
      results
        .map((result) => `${result.shape.workload.name} ${fixed(keptPerNode(result), 0)} B/node`)
        .join(", ") +
      ".\n  The rest is bounded whatever the number of runs: capped streams, and each queue's newest 100 completed jobs.",
  );

  return results.map((result) => {
    const bytes = keptPerNode(result);
    const met = bytes <= maxBytesPerNode;
    return (
      `storage, ${result.shape.workload.name}: ${fixed(bytes, 0)} B/node kept per run ${met ? "<=" : ">"} ` +
      `${maxBytesPerNode}: ${met ? "PASS" : "MISSED"} (all growth ${fixed(perNode(result, result.rigflow), 0)} ` +
      `B/node; BullMQ flow ${fixed(perNode(result, result.bullmq), 0)} B/node, ` +
      `ratio ${fixed(perNode(result, result.rigflow) / perNode(result, result.bullmq))})`
    );
  });
}
