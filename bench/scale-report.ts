/** Prints the scale section: per-node cost by size, ratios to raw BullMQ, slowest command, run reads. */
import { fixed, table } from "./report.js";
import { median } from "./stats.js";
import type { CancelScale, ConcurrentScale, ShapeScale } from "./scale.js";
import type { ClusterComparison } from "./scale-cluster.js";

export interface ScaleTargets {
  /** Rigflow per node / raw BullMQ per node, each shape. */
  maxRatio: number;
  /** Per node of the largest of a kind / per node of the 100-node one. */
  maxGrowth: number;
  maxCommandMs: number;
  maxReadRunMs: number;
  maxCancelMs: number;
  minNodesPerSecond: number;
}

/** Single Redis against the cluster: a table, no target (the cluster is for failover, not speed). */
export function printClusterComparison(results: readonly ClusterComparison[]): void {
  console.log(
    "\nSingle Redis against a 3-master Redis Cluster (REDIS_CLUSTER=1), one run at a time (median)\n",
  );
  console.log(
    table(
      ["workload", "single ms/node", "cluster ms/node", "cluster / single"],
      results.map(({ workload, singleMs, clusterMs }) => [
        workload.name,
        fixed(singleMs / workload.nodes.length, 3),
        fixed(clusterMs / workload.nodes.length, 3),
        fixed(clusterMs / singleMs),
      ]),
    ),
  );
}

/** Prints the table and returns the verdicts. */
export function printScale(
  {
    shapes: results,
    cancel,
    concurrent,
  }: { shapes: readonly ShapeScale[]; cancel: CancelScale; concurrent: ConcurrentScale },
  targets: ScaleTargets,
): string[] {
  const perNode = (values: readonly number[], nodes: number) => median(values) / nodes;
  console.log(
    "\nScale: one run at a time, submit -> run completed (median); raw BullMQ on the same Redis, in turn run by run\n",
  );
  console.log(
    table(
      [
        "workload",
        "nodes",
        "runs",
        "rigflow ms/node",
        "baseline ms/node",
        "ratio",
        "slowest command ms",
        "read run ms (p50)",
      ],
      results.map((result) => {
        const nodes = result.shape.workload.nodes.length;
        const rigflow = perNode(result.rigflowMs, nodes);
        const baseline = perNode(result.baselineMs, nodes);
        return [
          result.shape.workload.name,
          String(nodes),
          String(result.rigflowMs.length),
          fixed(rigflow, 3),
          fixed(baseline, 3),
          fixed(rigflow / baseline),
          result.slowest ? fixed(result.slowest.micros / 1000) : "< 1",
          fixed(result.readRunMs, 1),
        ];
      }),
    ),
  );
  console.log(
    "\nCPU per node over those runs, ms: this process's (where both systems' workers run) + redis-server's\n",
  );
  console.log(
    table(
      ["workload", "rigflow process", "rigflow redis", "baseline process", "baseline redis", "ratio"],
      results.map((result) => {
        const nodesRun = (values: readonly number[]) => values.length * result.shape.workload.nodes.length;
        const rigflow = result.rigflowCpu;
        const baseline = result.baselineCpu;
        const rigflowNodes = nodesRun(result.rigflowMs);
        const baselineNodes = nodesRun(result.baselineMs);
        return [
          result.shape.workload.name,
          fixed(rigflow.processMs / rigflowNodes, 3),
          fixed(rigflow.redisMs / rigflowNodes, 3),
          fixed(baseline.processMs / baselineNodes, 3),
          fixed(baseline.redisMs / baselineNodes, 3),
          fixed(
            (rigflow.processMs + rigflow.redisMs) /
              rigflowNodes /
              ((baseline.processMs + baseline.redisMs) / baselineNodes),
          ),
        ];
      }),
    ),
  );
  console.log("\nSlowest command per workload (SLOWLOG, over 1 ms):");
  for (const result of results) {
    const slowest = result.slowest;
    console.log(
      `  ${result.shape.workload.name.padEnd(16)} ${slowest ? `${fixed(slowest.micros / 1000)} ms: ${slowest.command}` : "none over 1 ms"}`,
    );
  }
  console.log(
    `\nCancel of a fan-out with ${cancel.queued} nodes queued: ${fixed(cancel.cancelMs, 0)} ms to pipeline_cancelled; ` +
      `slowest command ${cancel.slowest ? `${fixed(cancel.slowest.micros / 1000)} ms: ${cancel.slowest.command}` : "under 1 ms"}`,
  );
  console.log(
    `Its resume (every cancelled node back to pending): ${fixed(cancel.resumeMs, 0)} ms; ` +
      `slowest command ${cancel.resumeSlowest ? `${fixed(cancel.resumeSlowest.micros / 1000)} ms: ${cancel.resumeSlowest.command}` : "under 1 ms"}`,
  );
  const nodes = concurrent.runs * concurrent.workload.nodes.length;
  const rate = (values: readonly number[]) => (nodes / median(values)) * 1000;
  console.log(
    `\n${concurrent.runs} ${concurrent.workload.name} runs at once (${nodes} nodes, median wall time): ` +
      `rigflow ${fixed(rate(concurrent.rigflowMs), 0)} nodes/s, baseline ${fixed(rate(concurrent.baselineMs), 0)} nodes/s`,
  );
  const verdicts: string[] = [];
  {
    const nodesPerSecond = rate(concurrent.rigflowMs);
    const met = nodesPerSecond >= targets.minNodesPerSecond;
    verdicts.push(
      `${concurrent.runs} concurrent ${concurrent.workload.name}: ${fixed(nodesPerSecond, 0)} nodes/s ${met ? ">=" : "<"} ${targets.minNodesPerSecond}: ${met ? "met" : "NOT met"}`,
    );
  }
  const verdict = (what: string, value: number, limit: number, unit = "") => {
    const met = value <= limit;
    verdicts.push(
      `${what}: ${fixed(value)}${unit} ${met ? "<=" : ">"} ${limit}${unit}: ${met ? "met" : "NOT met"}`,
    );
  };
  for (const result of results) {
    const nodes = result.shape.workload.nodes.length;
    const name = result.shape.workload.name;
    verdict(
      `${name} ratio to raw BullMQ`,
      perNode(result.rigflowMs, nodes) / perNode(result.baselineMs, nodes),
      targets.maxRatio,
    );
    verdict(
      `${name} slowest Redis command`,
      (result.slowest?.micros ?? 0) / 1000,
      targets.maxCommandMs,
      " ms",
    );
    if (nodes >= 10_000) verdict(`${name} read run p50`, result.readRunMs, targets.maxReadRunMs, " ms");
  }
  verdict(`cancel with ${cancel.queued} queued`, cancel.cancelMs, targets.maxCancelMs, " ms");
  verdict(
    `cancel's slowest Redis command`,
    (cancel.slowest?.micros ?? 0) / 1000,
    targets.maxCommandMs,
    " ms",
  );
  verdict(
    `resume's slowest Redis command`,
    (cancel.resumeSlowest?.micros ?? 0) / 1000,
    targets.maxCommandMs,
    " ms",
  );
  // Growth: each kind's largest against its 100-node shape (the kind is the name before the size).
  const kinds = new Map<string, ShapeScale[]>();
  for (const result of results) {
    const kind = result.shape.workload.name.split("-")[0] ?? "";
    kinds.set(kind, [...(kinds.get(kind) ?? []), result]);
  }
  for (const [kind, shapes] of kinds) {
    const sorted = [...shapes].sort((a, b) => a.shape.workload.nodes.length - b.shape.workload.nodes.length);
    const smallest = sorted[0];
    if (!smallest) continue;
    for (const larger of sorted.slice(1)) {
      const growth =
        perNode(larger.rigflowMs, larger.shape.workload.nodes.length) /
        perNode(smallest.rigflowMs, smallest.shape.workload.nodes.length);
      verdict(
        `${kind}: per node at ${larger.shape.workload.nodes.length} / at ${smallest.shape.workload.nodes.length}`,
        growth,
        targets.maxGrowth,
      );
    }
  }
  return verdicts;
}
