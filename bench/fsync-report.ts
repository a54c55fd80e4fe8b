/** Prints the durability section: what `appendfsync always` costs Rigflow per node against `everysec`. */
import type { AppendFsync } from "../src/infra/redis-server.js";
import type { FsyncModeResult, FsyncResult } from "./fsync.js";
import { fixed, table } from "./report.js";
import { median, percentile } from "./stats.js";

const mean = (values: readonly number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;

/** On these an fsync returns at once: the figures would say nothing about a disk. */
const memoryFilesystems = ["tmpfs", "ramfs"];

export function printFsyncCost(result: FsyncResult): void {
  const { options, disk, fdatasyncMs } = result;
  const latencyNodes = options.latency.nodes.length;
  const throughputNodes = options.concurrentRuns * options.throughput.nodes.length;
  const msPerNode = (mode: FsyncModeResult) => median(mode.latencyMs) / latencyNodes;
  const nodesPerSecond = (mode: FsyncModeResult) => (throughputNodes / median(mode.throughputMs)) * 1000;

  console.log(
    "\nDurability: Rigflow on a redis-server with AOF fsynced on every write (`always`, the default) " +
      "against once a second (`everysec`); one redis-server per mode, timed alternately\n",
  );
  console.log(
    `Data dirs in ${options.dir}: ${disk.fstype} on ${disk.source} (mounted on ${disk.mount}); ` +
      `a 256-byte append + fdatasync there takes p50 ${fixed(percentile(fdatasyncMs, 50), 3)} ms, ` +
      `mean ${fixed(mean(fdatasyncMs), 3)} ms, p99 ${fixed(percentile(fdatasyncMs, 99), 3)} ms ` +
      `(${fdatasyncMs.length} samples).`,
  );
  if (memoryFilesystems.includes(disk.fstype)) {
    console.log(
      `  WARNING: ${disk.fstype} keeps files in memory, so fsync costs nothing here; ` +
        "set BENCH_FSYNC_DIR to a directory on the disk Redis would use.",
    );
  }
  const rows = result.modes.map((mode) => [
    mode.mode,
    fixed(median(mode.latencyMs), 1),
    fixed(msPerNode(mode), 3),
    fixed(median(mode.throughputMs), 1),
    fixed(nodesPerSecond(mode), 0),
  ]);
  const everysec = find(result, "everysec");
  const always = find(result, "always");
  rows.push([
    "always / everysec",
    "",
    `${fixed(msPerNode(always) / msPerNode(everysec))}x`,
    "",
    `${fixed(nodesPerSecond(always) / nodesPerSecond(everysec))}x`,
  ]);
  console.log("");
  console.log(
    table(
      [
        "appendfsync",
        `${options.latency.name} ms`,
        "ms/node",
        `${options.concurrentRuns} x ${options.throughput.name} wall ms`,
        "nodes/s",
      ],
      rows,
    ),
  );
  const extra = msPerNode(always) - msPerNode(everysec);
  console.log(
    `\n\`always\` adds ${fixed(extra, 3)} ms per node to a run on its own (medians of ${options.repetitions} ` +
      `after ${options.warmups} warm-ups): each Redis round trip that writes waits for an fdatasync, ` +
      "so it scales with the mean above. With many runs at once, one fdatasync covers every write " +
      "of a Redis event-loop turn.",
  );
  console.log("\nSamples (ms):");
  const samples = (values: readonly number[]) => values.map((value) => value.toFixed(0)).join(" ");
  for (const mode of result.modes) {
    console.log(
      `  ${mode.mode.padEnd(8)} ${options.latency.name} [${samples(mode.latencyMs)}]  concurrent [${samples(mode.throughputMs)}]`,
    );
  }
}

function find(result: FsyncResult, mode: AppendFsync): FsyncModeResult {
  const found = result.modes.find((candidate) => candidate.mode === mode);
  if (!found) throw new Error(`fsync: no result for appendfsync ${mode}`);
  return found;
}
