/** Prints the live-events section: latency per client count against the bare relay, and memory. */
import { cpus } from "node:os";
import { fixed, table } from "./report.js";
import { percentile } from "./stats.js";
import type { LiveCase, LiveEventsResult, LiveSystem } from "./ws-latency.js";

export interface LiveTargets {
  /** Client count -> the p99 (ms) it must stay under. */
  maxP99Ms: Record<number, number>;
  /** At the largest client count. */
  maxApiRssMb: number;
}

/** Prints the section and returns its verdicts. */
export function printLiveEvents(result: LiveEventsResult, targets: LiveTargets): string[] {
  const { options, cases } = result;
  const find = (clients: number, system: LiveSystem) =>
    cases.find((c) => c.clients === clients && c.system === system);
  const oneClient = (system: LiveSystem) => find(Math.min(...options.clientCounts), system);
  const ratio = (value: number, base: number | undefined) =>
    base === undefined ? "-" : `${fixed(value / base, 1)}x`;
  const row = (c: LiveCase) => {
    const r = c.receipts;
    return [
      String(c.clients),
      c.system,
      `${c.nodes} x ${c.delayMs} ms`,
      String(r.receipts),
      fixed(r.nodeRate, 0),
      fixed(r.p50),
      fixed(r.p99),
      fixed(r.max),
      fixed(r.lastP50),
      fixed(r.lastP99),
      ratio(r.p99, find(c.clients, "relay")?.receipts.p99),
      ratio(r.p99, oneClient(c.system)?.receipts.p99),
      `${fixed(c.cpu.server * 100, 0)} / ${fixed(c.cpu.clients * 100, 0)} / ${c.system === "rigflow" ? fixed(c.cpu.worker * 100, 0) : "-"}`,
      fixed(c.machineCores * 100, 0),
    ];
  };
  console.log(
    "\nLive events: a node's command returning in the worker -> each WebSocket client's receipt of its " +
      "node_completed (one machine clock)\n",
  );
  console.log(
    table(
      [
        "clients",
        "system",
        "nodes",
        "receipts",
        "nodes/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "last p50",
        "last p99",
        "p99 / relay",
        "p99 / 1 client",
        "CPU % server/clients/worker",
        "machine %",
      ],
      cases.map(row),
    ),
  );
  const hop = result.redisHopMs;
  const most = Math.max(...options.clientCounts);
  console.log(
    `\nPer case: ${options.warmupNodes} warm-up nodes, then the timed ones: a chain of commands of the ` +
      "length shown on one device; every client receives 2 events per node (executing, completed). " +
      `Paced at one node per ${options.minDelayMs} ms, slower where the clients would get over ` +
      `${options.maxMessagesPerSecond} messages/s in all; at most ${options.maxReceipts} receipts per case.`,
  );
  console.log(
    "Receipts: every (node, client) pair; last = per node, the latency to the last client that got it. " +
      "CPU: each process's share of one core during the timed run; machine: all cores' busy time, in the same unit.",
  );
  console.log(
    `Processes: the API, a worker, the clients and the relay each in their own, with Redis on ${cpus().length} ` +
      "cores; relay = the baseline, XREAD BLOCK then the same text to every bare `ws` client, fed the same " +
      "events at the same pace: at 1,000 clients each event is 1,000 socket writes there and 1,000 reads in " +
      "the clients' process, on the same cores.",
  );
  console.log(
    `Redis hop alone (XADD -> an XREAD BLOCK reply on another connection), ${hop.length} samples: ` +
      `p50 ${fixed(percentile(hop, 50))} ms, p99 ${fixed(percentile(hop, 99))} ms.`,
  );
  // RSS moves with the garbage collector by more than 1,000 idle sockets weigh, so no per-client figure.
  const memory = (name: string, m: LiveEventsResult["api"]) =>
    `${name} ${fixed(m.idle.rssMb, 0)} MB before any client, ${fixed(m.loaded.rssMb, 0)} MB with ${most} ` +
    `clients connected after their case, peak (VmHWM) ${fixed(m.loaded.peakMb, 0)} MB`;
  console.log(`Memory (RSS, /proc): ${memory("API", result.api)}; ${memory("relay", result.relay)}.`);

  const verdicts = Object.entries(targets.maxP99Ms).map(([clients, limit]) => {
    const c = find(Number(clients), "rigflow");
    if (!c) return `live events, ${clients} clients: not measured`;
    const met = c.receipts.p99 < limit;
    return `live events, ${clients} clients: p99 ${fixed(c.receipts.p99)} ms ${met ? "<" : ">="} ${limit} ms: ${met ? "met" : "NOT met"}`;
  });
  // The peak, not the reading of the moment: the most the process held at any time up to then.
  const peak = Math.max(result.api.loaded.rssMb, result.api.loaded.peakMb);
  const met = peak < targets.maxApiRssMb;
  verdicts.push(
    `live events, API peak RSS with ${most} clients: ${fixed(peak, 0)} MB ${met ? "<" : ">="} ${targets.maxApiRssMb} MB: ${met ? "met" : "NOT met"}`,
  );
  return verdicts;
}
