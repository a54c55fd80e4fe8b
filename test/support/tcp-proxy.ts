// A TCP proxy in front of Redis, for fault tests: a process given its url talks to Redis through it,
// and the test cuts, delays or stalls that link while everyone else keeps talking to Redis directly.
import { connect, createServer, type Socket } from "node:net";

export interface TcpProxy {
  port: number;
  /** redis://127.0.0.1:<port> */
  url: string;
  /** Destroys every open connection pair at once, and resets new ones until restore(). */
  cut(): void;
  restore(): void;
  /** Adds `ms` of latency to each chunk, in both directions, keeping their order; 0 removes it. */
  delay(ms: number): void;
  /**
   * Keeps connections open but stops forwarding, in both directions (new connections are accepted
   * and stalled too). Nothing is dropped: bytes are held (in the kernel's buffers, then the
   * sender's, as over a partition TCP survives) and flow on, in order, once it is turned off.
   */
  blackhole(on: boolean): void;
  /** How many connection pairs are open. */
  connections(): number;
  /** How many connections were reset because the link was cut. */
  refused(): number;
  /** The proxy's own addresses ("127.0.0.1:port") towards the target: what Redis's CLIENT LIST shows as `addr`. */
  upstreamAddresses(): string[];
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

/** One direction of a connection pair; chunks wait in `queue` while delayed or held. */
interface Pipe {
  to: Socket;
  queue: { data: Buffer; at: number }[];
  timer: NodeJS.Timeout | undefined;
}

export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; upstream: Socket; pipes: Pipe[] }>();
  let isCut = false;
  let held = false;
  let delayMs = 0;
  let refusedCount = 0;

  // Chunks go out in arrival order: each waits for its own time and for every chunk before it.
  const pump = (pipe: Pipe) => {
    clearTimeout(pipe.timer);
    pipe.timer = undefined;
    if (held) return;
    const now = Date.now();
    while (pipe.queue[0] && pipe.queue[0].at <= now)
      pipe.to.write((pipe.queue.shift() as Pipe["queue"][0]).data);
    const next = pipe.queue[0];
    if (next) pipe.timer = setTimeout(() => pump(pipe), next.at - now);
  };

  const forward = (from: Socket, to: Socket): Pipe => {
    const pipe: Pipe = { to, queue: [], timer: undefined };
    from.on("data", (data) => {
      pipe.queue.push({ data, at: Date.now() + delayMs });
      if (pipe.queue.length === 1) pump(pipe);
    });
    return pipe;
  };

  const server = createServer((client) => {
    // An error on either side ends the pair (below); it is what the tests inflict, not a failure.
    client.on("error", () => undefined);
    if (isCut) {
      refusedCount += 1;
      // A reset, as from a link that is down, rather than an orderly close the client might trust.
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(targetPort, targetHost);
    upstream.on("error", () => undefined);
    const pair = { client, upstream, pipes: [forward(client, upstream), forward(upstream, client)] };
    pairs.add(pair);
    if (held) for (const socket of [client, upstream]) socket.pause();
    // Either side going away (a CLIENT KILL, the client quitting) takes the other with it.
    const end = () => {
      for (const pipe of pair.pipes) clearTimeout(pipe.timer);
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on("close", end);
    upstream.on("close", end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("proxy: no port");
  const destroyAll = () => {
    for (const { client, upstream } of pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
  };

  return {
    port: address.port,
    url: `redis://127.0.0.1:${address.port}`,
    cut() {
      isCut = true;
      destroyAll();
    },
    restore() {
      isCut = false;
    },
    delay(ms) {
      delayMs = ms;
    },
    blackhole(on) {
      held = on;
      for (const { client, upstream, pipes } of pairs) {
        for (const socket of [client, upstream]) {
          if (on) socket.pause();
          else socket.resume();
        }
        if (!on) pipes.forEach(pump);
      }
    },
    connections: () => pairs.size,
    refused: () => refusedCount,
    upstreamAddresses: () =>
      [...pairs].flatMap(({ upstream }) =>
        upstream.localPort === undefined ? [] : [`${upstream.localAddress}:${upstream.localPort}`],
      ),
    async close() {
      isCut = true;
      destroyAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
