import type { ServerType } from "@hono/node-server";
import { serve } from "@hono/node-server";
import type { Server } from "node:http";
import type { Logger } from "pino";
import {
  connectRedis,
  createCatalog,
  Engine,
  EventTail,
  type DeviceEntry,
  type EventRetention,
  type FunctionContract,
  type Limits,
  untilReady,
} from "../engine/index.js";
import { createAccess, tokensConfigured, type AccessSettings } from "./access/index.js";
import { accessSettingsOf, createApp, defaultMaxStreamsPerClient } from "./app.js";
import { StreamQuota } from "./live/stream-quota.js";
import { LiveEvents } from "./live/live-events.js";
import { resyncFollowers } from "./live/run-follower.js";
import { createQueueAdmin } from "../queues/index.js";
import { ApiMetrics } from "./metrics/api-metrics.js";
import { defaultSseTuning, type SseTuning } from "./live/sse-session.js";
import { SseStreams } from "./live/sse-streams.js";
import { defaultHubTuning, EventHub, type HubTuning } from "./ws/hub.js";

export interface ApiOptions {
  redisUrl: string;
  /** `redisUrl` names a node of a Redis Cluster (REDIS_CLUSTER=1). */
  redisCluster?: boolean;
  prefix: string;
  port: number;
  /** The listen address; loopback by default. */
  host?: string;
  /** Tokens, origins, hosts, sessions (docs/contract.md, "Access"); unset fields take the defaults. */
  access?: Partial<AccessSettings>;
  /** Shorthand for `access.apiToken`. */
  apiToken?: string | undefined;
  maxBodyBytes: number;
  /** MAX_STREAMS_PER_CLIENT: open WebSocket and SSE streams per client; 100 by default. */
  maxStreamsPerClient?: number;
  limits: Limits;
  /** How long runs' event streams are kept (the API writes pipeline_resumed); default: the defaults. */
  eventRetention?: EventRetention;
  devices: readonly DeviceEntry[];
  drivers: Iterable<{ name: string; description: string; functions: readonly FunctionContract[] }>;
  log: Logger;
  /** WebSocket heartbeat and limits; the defaults suit production. */
  ws?: Partial<HubTuning>;
  /** Server-Sent Events keep-alive and limits; the defaults suit production. */
  sse?: Partial<SseTuning>;
}

export interface ApiHandle {
  port: number;
  engine: Engine;
  close(): Promise<void>;
}

/** Long enough for a cluster that is up to be ready; one that is down leaves the API 503 meanwhile. */
const clusterReadyWaitMs = 5000;

/** Starts the HTTP API. It never opens a device: drivers are known here only by their specs. */
export async function startApi(options: ApiOptions): Promise<ApiHandle> {
  const { log } = options;
  const redis = connectRedis(options.redisUrl, {
    blocking: false,
    name: "rigflow-api",
    cluster: options.redisCluster ?? false,
  });
  redis.on("error", (error) => log.warn({ err: error }, "redis connection error"));
  const engine = new Engine(
    redis,
    options.prefix,
    createCatalog(options.devices, options.drivers),
    options.limits,
    options.eventRetention,
  );
  // Live events: one reader of the global stream per process, on a connection of its own, fanned
  // out to the WebSocket hub and the SSE streams.
  const live = new LiveEvents((error) => log.warn({ err: error }, "delivering a live event failed"));
  const sse = new SseStreams(engine, live, { ...defaultSseTuning, ...options.sse });
  const queueAdmin = createQueueAdmin(engine);
  const metrics = new ApiMetrics(engine, queueAdmin.inspector, (error) =>
    log.warn({ err: error }, "a metric could not be recorded"),
  );
  live.subscribe((event) => metrics.observe(event));
  const accessSettings = accessSettingsOf(options);
  const access = createAccess(redis, engine.keys, accessSettings, log);
  const streamQuota = new StreamQuota(options.maxStreamsPerClient ?? defaultMaxStreamsPerClient);
  const app = createApp({
    engine,
    log,
    accessHandle: access,
    streamQuota,
    maxBodyBytes: options.maxBodyBytes,
    sse,
    metrics,
    queueAdmin,
  });
  const hub = new EventHub(engine, {
    access,
    streamQuota,
    log,
    tuning: { ...defaultHubTuning, ...options.ws },
  });
  live.subscribe((event) => hub.deliver(event));
  const tailRedis = connectRedis(options.redisUrl, {
    blocking: true,
    name: "rigflow-api-events",
    cluster: options.redisCluster ?? false,
  });
  tailRedis.on("error", (error) => log.warn({ err: error }, "redis connection error (event tail)"));
  const tail = new EventTail(
    tailRedis,
    engine.keys,
    (event) => live.publish(event),
    (error) => log.warn({ err: error }, "reading the event stream failed; retrying"),
    (gap) => {
      // The tail fell behind the global stream's cap: the entries after gap.lastId that were
      // trimmed never reached the live listeners. Clients following runs re-read their runs' own
      // streams; clients of every run's events (WebSocket broadcast) cannot be caught up.
      log.warn(
        { last_read_id: gap.lastId, first_kept_id: gap.firstId, behind_ms: gap.behindMs },
        "the event tail fell behind the event stream's cap: live events were lost; run followers " +
          "re-read their runs' streams, clients of every run's events (WebSocket without run_id) missed them",
      );
      void resyncFollowers(engine.runs, gap).then(
        ({ followers, failed }) => {
          if (failed > 0)
            log.warn({ followers, failed }, "some run followers could not re-read after the gap");
        },
        (error: unknown) => log.warn({ err: error }, "re-reading runs after the gap failed"),
      );
    },
  );
  const host = options.host ?? "127.0.0.1";
  // A cluster's client here fails commands until it is first ready (connection.ts): give it the
  // time a cluster that is up takes, so that the first requests are served.
  if (options.redisCluster) await untilReady(redis, clusterReadyWaitMs);
  await tail.start();
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: options.port, hostname: host }, () => resolve(s));
  });
  hub.attach(server as Server);
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  // Before "api listening", which tells a supervisor (and the tests) that start-up is done.
  if (!tokensConfigured(accessSettings) && !isLoopback(host)) {
    log.warn(
      { host },
      `listening on ${host} without API_TOKEN: anyone who can reach this address can drive the hardware; ` +
        "set API_TOKEN, or HOST=127.0.0.1 (requests must name a loopback host or one of ALLOWED_HOSTS)",
    );
  }
  for (const [name, token] of [
    ["API_TOKEN", accessSettings.apiToken],
    ["API_READ_TOKEN", accessSettings.readToken],
  ] as const) {
    if (token !== undefined && token.length < 16) {
      log.warn(
        `${name} is ${token.length} characters: the throttle slows guessing, it does not stop it; ` +
          "use a long random token (openssl rand -base64 32)",
      );
    }
  }
  log.info({ host, port }, "api listening");
  return {
    port,
    engine,
    async close() {
      // Drain: no new connections; a request waiting for a run to end (the seed's execute) is
      // answered 202 with the run id now rather than holding the shutdown for up to its timeout.
      engine.stopWaiting();
      // SSE streams end (an EventSource reconnects elsewhere with Last-Event-ID); they are not idle
      // connections, so server.close() would otherwise wait for them.
      await Promise.all([hub.close(), sse.close()]);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A keep-alive connection busy when close() began would otherwise stay open until its idle
      // timeout: close each as soon as its last response is out.
      const sweep = setInterval(() => {
        if ("closeIdleConnections" in server) server.closeIdleConnections();
      }, 50);
      await closed;
      clearInterval(sweep);
      await tail.close();
      await engine.close();
      await redis.quit().catch(() => undefined);
    },
  };
}

/** Whether an address the API listens on is reachable from this machine only. */
function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}
