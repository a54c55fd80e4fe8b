import { Cluster, Redis, type RedisOptions } from "ioredis";

export interface ConnectOptions {
  /** BullMQ workers and stream readers retry for ever, as BullMQ requires; the API's connection fails fast. */
  blocking: boolean;
  name: string;
  /**
   * `url` names one node of a Redis Cluster (REDIS_CLUSTER=1). Every key of a deployment is then
   * in one hash slot (see `clusterPrefix`), so scripts and BullMQ flows stay legal.
   */
  cluster?: boolean;
}

/**
 * Opens a Redis connection: to one server, or to a Redis Cluster. The cluster client is typed as
 * `Redis` on purpose: ioredis gives both the same command interface (commands, pipelines,
 * `defineCommand`, pub/sub), every key of a deployment lives in one slot so every command and
 * script goes to the one master that holds it, and BullMQ takes either. The one call whose
 * signature differs, `duplicate`, goes through `duplicateConnection`.
 */
export function connectRedis(url: string, options: ConnectOptions): Redis {
  const redisOptions: RedisOptions = {
    connectionName: options.name,
    maxRetriesPerRequest: options.blocking ? null : 1,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  };
  if (!options.cluster) return new Redis(url, redisOptions);
  const { protocol, hostname, port, username, password } = new URL(url);
  const cluster = new Cluster([{ host: hostname, port: Number(port || 6379) }], {
    redisOptions: {
      ...redisOptions,
      ...(username && { username: decodeURIComponent(username) }),
      ...(password && { password: decodeURIComponent(password) }),
      // rediss:// as for a single server: TLS to every node.
      ...(protocol === "rediss:" && { tls: {} }),
    },
    // The cluster client has no per-command retry limit: with its queue for commands sent while
    // it is not ready, a request would wait for as long as the cluster is down. The API's client
    // goes without it and fails such a command at once (503 REDIS_UNAVAILABLE), as a single
    // server's does after one reconnect attempt; start-up waits for it (`untilReady`).
    enableOfflineQueue: options.blocking,
    clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
  });
  return cluster as unknown as Redis;
}

/**
 * Resolves once `redis` is ready, or after `timeoutMs`, whichever comes first: so that a client
 * that fails commands while it is not ready (a cluster's, in the API) serves the first requests.
 */
export async function untilReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === "ready") return;
  let timer: NodeJS.Timeout | undefined;
  let onReady = () => undefined as void;
  await new Promise<void>((resolve) => {
    onReady = resolve;
    redis.once("ready", onReady);
    timer = setTimeout(resolve, timeoutMs);
  });
  clearTimeout(timer);
  redis.off("ready", onReady);
}

/** A second connection like `redis` (for SUBSCRIBE, which takes a connection over), with overrides. */
export function duplicateConnection(redis: Redis, overrides: RedisOptions = {}): Redis {
  const client = redis as unknown as Redis | Cluster;
  if (client instanceof Cluster) {
    // A subscriber waits for its cluster to be ready, whichever client it copies.
    const copy = client.duplicate([], {
      enableOfflineQueue: true,
      redisOptions: { ...client.options.redisOptions, ...overrides },
    });
    return copy as unknown as Redis;
  }
  return client.duplicate(overrides);
}

/**
 * The key prefix of a deployment: on a cluster, wrapped in a hash tag (`{rigflow}`), so that
 * BullMQ's keys (`{rigflow}:device-x:wait`) and Rigflow's (`{rigflow}:rf:run:...`) hash to one slot.
 */
export const clusterPrefix = (prefix: string, cluster: boolean) => (cluster ? `{${prefix}}` : prefix);
