/**
 * Live events: from a node's completion in the worker (its driver function returning) to each
 * WebSocket client's receipt of the node_completed event, at 1, 100 and 1,000 clients; and the API
 * process's memory. Every party is a process of its own: the API (memory read from /proc), a
 * worker hosting a clock device, the clients; the baseline is a bare relay (XREAD BLOCK, then the
 * same text to every `ws` client) fed the same events at the same pace, plus the Redis hop alone.
 */
import { connectRedis, createCatalog, defaultLimits, Engine } from "../src/engine/index.js";
import { spawnChild, type BenchChild, type Memory } from "./child.js";
import { clockDevice, clockDriver } from "./clock-driver.js";
import { cpuMeter, machineMeter } from "./cpu.js";
import { withTimeout } from "./stats.js";
import type { ReceiptSummary } from "./ws-clients-main.js";
import { chainDocument, deleteKeys, feedRelay, measureRedisHop } from "./ws-sources.js";

export type LiveSystem = "relay" | "rigflow";

export interface LiveEventsOptions {
  clientCounts: number[];
  /** Nodes timed per case (after `warmupNodes`), fewer where that would pass `maxReceipts`. */
  nodes: number;
  maxReceipts: number;
  warmupNodes: number;
  /**
   * Each node's command takes this long, or longer where the clients would otherwise receive more
   * than `maxMessagesPerSecond` in all: the pace keeps the machine (2 cores here, shared by the
   * server, the worker, Redis and the clients) short of saturation, where latency is a queue's length.
   */
  minDelayMs: number;
  maxMessagesPerSecond: number;
  redisHopSamples: number;
}

export interface LiveCase {
  clients: number;
  system: LiveSystem;
  nodes: number;
  delayMs: number;
  receipts: ReceiptSummary;
  /** Share of one core each process used during the timed run (the worker idles in the relay's). */
  cpu: { server: number; worker: number; clients: number };
  /** Cores busy on the whole machine meanwhile (/proc/stat): beyond the above, Redis, the bench, others. */
  machineCores: number;
}

export interface LiveEventsResult {
  options: LiveEventsOptions;
  cases: LiveCase[];
  /** ms from XADD to an XREAD BLOCK's reply on another connection, in the bench process. */
  redisHopMs: number[];
  /** Before any client connected, and with the most clients connected after their case ran. */
  api: { idle: Memory; loaded: Memory };
  relay: { idle: Memory; loaded: Memory };
}

const deviceId = "clock-1";
const devices = [clockDevice(deviceId)];
/** Sockets per process beyond the clients' own: Redis, the listener, stdio, libuv's. */
const spareFiles = 200;
const requestMs = 60_000;
/** Each node sends every client two events: node_executing and node_completed. */
const eventsPerNode = 2;

/** The nodes and the command length of the case with `clients` clients. */
export function pace(options: LiveEventsOptions, clients: number): { nodes: number; delayMs: number } {
  return {
    nodes: Math.min(options.nodes, Math.floor(options.maxReceipts / clients)),
    delayMs: Math.max(
      options.minDelayMs,
      Math.ceil((eventsPerNode * clients * 1000) / options.maxMessagesPerSecond),
    ),
  };
}

export async function measureLiveEvents(
  redisUrl: string,
  prefix: string,
  options: LiveEventsOptions,
): Promise<LiveEventsResult> {
  const relayStream = `${prefix}:relay`;
  const most = Math.max(...options.clientCounts);
  const config = { redisUrl, prefix, devices };
  const children: BenchChild[] = [];
  const redis = connectRedis(redisUrl, { blocking: false, name: "bench-live" });
  const engine = new Engine(redis, prefix, createCatalog(devices, [clockDriver]), defaultLimits);
  try {
    process.stderr.write("live events: starting the API, a worker, the relay and the clients\n");
    const files = most + spareFiles;
    const started = await Promise.allSettled([
      spawnChild("bench api", "ws-api-main.ts", config, files),
      spawnChild("bench worker", "ws-worker-main.ts", config),
      spawnChild("bench relay", "ws-relay-main.ts", { redisUrl, stream: relayStream }, files),
      spawnChild("bench clients", "ws-clients-main.ts", {}, files),
    ]);
    for (const result of started) if (result.status === "fulfilled") children.push(result.value);
    const failed = started.find((result) => result.status === "rejected");
    if (failed) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
    const [api, worker, relay, clients] = children as [BenchChild, BenchChild, BenchChild, BenchChild];
    const servers = { rigflow: api, relay };

    let sequence = 0;
    const runners: Record<LiveSystem, (nodes: number, delayMs: number) => Promise<string>> = {
      async rigflow(nodes, delayMs) {
        sequence += 1;
        const document = chainDocument(`live-${sequence}`, deviceId, nodes, delayMs);
        const { runId } = await engine.submitRun({ document });
        const state = await engine.waitForRun(runId, nodes * delayMs + requestMs);
        if (state.status !== "completed") {
          throw new Error(`live events: run ${runId} ended ${state.status}: ${JSON.stringify(state.error)}`);
        }
        return runId;
      },
      relay(nodes, delayMs) {
        sequence += 1;
        return feedRelay(redis, relayStream, `relay-${sequence}`, nodes, delayMs);
      },
    };

    process.stderr.write(`live events: Redis hop x ${options.redisHopSamples}\n`);
    const redisHopMs = await measureRedisHop(redisUrl, `${prefix}:hop`, options.redisHopSamples);
    // Warm both servers (JIT, connections) with nobody listening, then take their idle size.
    await runners.rigflow(options.warmupNodes, options.minDelayMs);
    await runners.relay(options.warmupNodes, options.minDelayMs);
    const idle = { rigflow: api.memory(), relay: relay.memory() };
    const loaded = { ...idle };

    const cases: LiveCase[] = [];
    for (const count of options.clientCounts) {
      const { nodes, delayMs } = pace(options, count);
      for (const system of ["relay", "rigflow"] as const) {
        process.stderr.write(
          `live events: ${system}, ${count} client(s), ${nodes} nodes of ${delayMs} ms (+${options.warmupNodes} warm-up)\n`,
        );
        const server = servers[system];
        const url = `ws://127.0.0.1:${String(server.info.port)}/ws`;
        await clients.request({ op: "connect", url, count }, requestMs);
        const collect = (runId: string, expected: number) =>
          clients.request<ReceiptSummary>({ op: "collect", runId, nodes: expected }, requestMs);
        await collect(await runners[system](options.warmupNodes, delayMs), options.warmupNodes);
        const cpu = cpuMeter({ server: server.pid, worker: worker.pid, clients: clients.pid });
        const machine = machineMeter();
        const receipts = await collect(await runners[system](nodes, delayMs), nodes);
        cases.push({ clients: count, system, nodes, delayMs, receipts, cpu: cpu(), machineCores: machine() });
        if (count === most) loaded[system] = server.memory();
        await clients.request({ op: "disconnect" }, requestMs);
      }
    }
    return {
      options,
      cases,
      redisHopMs,
      api: { idle: idle.rigflow, loaded: loaded.rigflow },
      relay: { idle: idle.relay, loaded: loaded.relay },
    };
  } finally {
    // The clients first, so that the servers do not spend their shutdown closing sockets.
    for (const child of [...children].reverse()) await child.stop();
    await withTimeout(engine.close(), 15_000, "live events: closing");
    await deleteKeys(redis, `${prefix}:*`);
    await redis.quit();
  }
}
