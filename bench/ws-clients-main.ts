/**
 * N real `ws` clients in a process of their own (their load is then not the server's), noting for
 * each node_completed they receive how long after the node's completion it came: the machine clock
 * at receipt less the `completed_at` the clock driver put in the node's outputs. The parent asks
 * for a run's figures once every client has its pipeline_completed (so nothing is still on the way).
 * With BENCH_WS_TRACE set, each run's per-node latency to its first and last client goes to stderr.
 */
import WebSocket from "ws";
import { childConfig, runChild } from "./child-side.js";
import { machineMs } from "./clock-driver.js";
import { percentile } from "./stats.js";

/** Sockets opening at once: a thousand at a time overflow the server's accept backlog. */
const openAtOnce = 50;

const completedTag = '"node_completed"';
const finishedTag = '"pipeline_completed"';

interface NodeReceipts {
  stamp: number;
  first: number;
  last: number;
  count: number;
}

interface RunReceipts {
  latencies: number[];
  nodes: Map<string, NodeReceipts>;
  /** Clients that have received the run's pipeline_completed. */
  finished: number;
}

export interface ReceiptSummary {
  clients: number;
  nodes: number;
  receipts: number;
  p50: number;
  p99: number;
  max: number;
  /** Per node, the latency to the last client that got it. */
  lastP50: number;
  lastP99: number;
  /** Nodes per second, from the first node's completion to the last's. */
  nodeRate: number;
}

interface WireEvent {
  type?: string;
  run_id?: string;
  node_id?: string;
  outputs?: { completed_at?: number };
}

runChild("bench clients", () => {
  childConfig<Record<string, never>>();
  let sockets: WebSocket[] = [];
  const runs = new Map<string, RunReceipts>();
  const unexpectedCloses: string[] = [];
  let onFinished: (() => void) | undefined;

  const receiptsOf = (runId: string) => {
    let run = runs.get(runId);
    if (!run) runs.set(runId, (run = { latencies: [], nodes: new Map(), finished: 0 }));
    return run;
  };

  function receive(data: WebSocket.RawData): void {
    // First, before anything this process does for the message is counted as the server's.
    const at = machineMs();
    // Half the events are node_executing: not parsing them leaves more of the machine to the server.
    const text = data as Buffer;
    if (!text.includes(completedTag) && !text.includes(finishedTag)) return;
    const event = JSON.parse(text.toString()) as WireEvent;
    if (event.run_id === undefined) return;
    if (event.type === "pipeline_completed") {
      receiptsOf(event.run_id).finished += 1;
      onFinished?.();
      return;
    }
    const stamp = event.outputs?.completed_at;
    if (event.type !== "node_completed" || stamp === undefined || event.node_id === undefined) return;
    const run = receiptsOf(event.run_id);
    run.latencies.push(at - stamp);
    const node = run.nodes.get(event.node_id);
    if (node) {
      node.count += 1;
      node.last = at;
    } else run.nodes.set(event.node_id, { stamp, first: at, last: at, count: 1 });
  }

  function open(url: string): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, { perMessageDeflate: false, skipUTF8Validation: true });
      socket.on("message", receive);
      socket.once("error", reject);
      socket.once("open", () => {
        socket.off("error", reject);
        socket.on("error", () => undefined);
        socket.once("close", (code, reason) => {
          if (sockets.includes(socket)) unexpectedCloses.push(`${code} ${reason.toString()}`);
        });
        resolve(socket);
      });
    });
  }

  async function connect(url: string, count: number): Promise<{ connected: number }> {
    for (let i = 0; i < count; i += openAtOnce) {
      const batch = Array.from({ length: Math.min(openAtOnce, count - i) }, () => open(url));
      sockets.push(...(await Promise.all(batch)));
    }
    return { connected: sockets.length };
  }

  async function collect(runId: string, nodes: number): Promise<ReceiptSummary> {
    const clients = sockets.length;
    const done = () => (runs.get(runId)?.finished ?? 0) >= clients || unexpectedCloses.length > 0;
    if (!done()) await new Promise<void>((resolve) => (onFinished = () => done() && resolve()));
    onFinished = undefined;
    if (unexpectedCloses.length > 0) {
      throw new Error(`${unexpectedCloses.length} client(s) closed by the server: ${unexpectedCloses[0]}`);
    }
    const run = runs.get(runId) as RunReceipts;
    runs.delete(runId);
    const byNode = [...run.nodes.values()];
    const short = byNode.filter((node) => node.count !== clients);
    if (byNode.length !== nodes || short.length > 0) {
      throw new Error(
        `run ${runId}: ${byNode.length} of ${nodes} nodes received; ${short.length} not by all ${clients} clients`,
      );
    }
    if (process.env.BENCH_WS_TRACE) {
      const trace = byNode.map(
        (node) => `${(node.first - node.stamp).toFixed(1)}/${(node.last - node.stamp).toFixed(1)}`,
      );
      process.stderr.write(`trace ${runId} x ${clients} (first/last ms): ${trace.join(" ")}\n`);
    }
    const last = byNode.map((node) => node.last - node.stamp);
    const stamps = byNode.map((node) => node.stamp);
    const span = Math.max(...stamps) - Math.min(...stamps);
    return {
      clients,
      nodes,
      receipts: run.latencies.length,
      p50: percentile(run.latencies, 50),
      p99: percentile(run.latencies, 99),
      max: run.latencies.reduce((a, b) => Math.max(a, b), 0),
      lastP50: percentile(last, 50),
      lastP99: percentile(last, 99),
      nodeRate: ((nodes - 1) / span) * 1000,
    };
  }

  async function disconnect(): Promise<{ disconnected: number }> {
    const closing = sockets;
    sockets = [];
    await Promise.all(
      closing.map(
        (socket) =>
          new Promise<void>((resolve) => {
            if (socket.readyState === WebSocket.CLOSED) return resolve();
            socket.once("close", () => resolve());
            socket.close(1000);
          }),
      ),
    );
    return { disconnected: closing.length };
  }

  return Promise.resolve({
    ready: {},
    handle(request) {
      if (request.op === "connect") return connect(String(request.url), Number(request.count));
      if (request.op === "collect") return collect(String(request.runId), Number(request.nodes));
      if (request.op === "disconnect") return disconnect();
      return Promise.reject(new Error(`unknown request ${JSON.stringify(request)}`));
    },
    async close() {
      await disconnect();
    },
  });
});
