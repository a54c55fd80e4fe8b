import { fileURLToPath } from "node:url";
import { z } from "zod";
import { tokensConfigured, type AccessSettings } from "./api/access/settings.js";
import { clusterPrefix } from "./engine/index.js";

const list = (text: string | undefined) =>
  (text ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);

/** The one module that reads the environment; everything else is handed its config. */
const envSchema = z.object({
  REDIS_URL: z.string().url().optional(),
  // REDIS_URL names one node of a Redis Cluster; the deployment's keys share one hash slot.
  REDIS_CLUSTER: z.enum(["0", "1"]).default("0"),
  // The embedded Redis only: `always` loses nothing acknowledged; `everysec` is faster and can lose
  // about a second of it to a power cut (docs/durability.md).
  REDIS_APPENDFSYNC: z.enum(["always", "everysec"]).default("always"),
  PORT: z.coerce.number().int().min(0).max(65535).default(8000),
  // Unset: loopback only without a token, every interface with one (docs/contract.md, "Access").
  HOST: z.string().optional(),
  API_TOKEN: z.string().min(1).optional(),
  API_READ_TOKEN: z.string().min(1).optional(),
  API_TOKENS_FILE: z.string().optional(),
  ALLOWED_ORIGINS: z.string().optional(),
  ALLOWED_HOSTS: z.string().optional(),
  SESSION_IDLE_S: z.coerce.number().int().min(60).max(31_536_000).default(28_800),
  SESSION_MAX_S: z.coerce.number().int().min(60).max(31_536_000).default(604_800),
  TRUST_PROXY: z
    .string()
    .regex(
      /^[0-9A-Za-z.:,\s]*$/,
      "0, 1 (a proxy on this machine), or the proxies' addresses, comma-separated",
    )
    .default("0"),
  AUDIT_MAX_ENTRIES: z.coerce.number().int().min(1000).default(100_000),
  RATE_LIMIT_PER_MIN: z.coerce.number().int().min(1).default(600),
  DEVICES_FILE: z.string().default(fileURLToPath(new URL("../devices.demo.json", import.meta.url))),
  WORKER_DEVICES: z.string().optional(),
  WORKER_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,100}$/, "letters, digits, '.', '_' and '-', at most 100")
    .optional(),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(3_600_000).default(30_000),
  LOG_LEVEL: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
  LOG_FORMAT: z.enum(["auto", "json", "pretty"]).default("auto"),
  RIGFLOW_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .default("rigflow"),
  RIGFLOW_DATA_DIR: z.string().default(fileURLToPath(new URL("../.data", import.meta.url))),
  // A 10,000-node pipeline (MAX_NODES) of plain nodes is 1-1.5 MB of JSON; room for params and ui.
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(4 * 1024 * 1024),
  MAX_NODES: z.coerce.number().int().min(1).default(10_000),
  MAX_PARAMS_BYTES: z.coerce
    .number()
    .int()
    .min(64)
    .default(16 * 1024),
  MAX_NODE_TIMEOUT_MS: z.coerce.number().int().min(1000).max(86_400_000).default(3_600_000),
  MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(10),
  MAX_RUN_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .max(7 * 86_400_000)
    .default(86_400_000),
  DEFAULT_RUN_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .max(7 * 86_400_000)
    .default(86_400_000),
  MAX_ACTIVE_RUNS: z.coerce.number().int().min(1).default(10_000),
  MAX_STREAMS_PER_CLIENT: z.coerce.number().int().min(1).default(100),
  RUN_EVENTS_MAX: z.coerce.number().int().min(1).default(10_000),
  RUN_EVENTS_TTL_S: z.coerce
    .number()
    .int()
    .min(0)
    .default(7 * 24 * 3600),
  RUN_RETENTION_S: z.coerce
    .number()
    .int()
    .min(0)
    .default(30 * 24 * 3600),
  RUN_SWEEP_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
});

export type Config = ReturnType<typeof readConfig>;

/** TRUST_PROXY: `0`/`false` none, `1`/`true` a proxy on this machine, else the proxies' addresses. */
function trustedProxiesOf(text: string): string[] {
  const value = text.trim().toLowerCase();
  if (value === "" || value === "0" || value === "false") return [];
  if (value === "1" || value === "true") return ["loopback"];
  return list(value);
}

export function readConfig(env: NodeJS.ProcessEnv = process.env) {
  // An empty variable (API_TOKEN= in a compose file, say) means unset.
  const given = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ""));
  const parsed = envSchema.safeParse(given);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`bad environment: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  const e = parsed.data;
  if (e.DEFAULT_RUN_TIMEOUT_MS > e.MAX_RUN_TIMEOUT_MS) {
    throw new Error("bad environment: DEFAULT_RUN_TIMEOUT_MS: must not be over MAX_RUN_TIMEOUT_MS");
  }
  if (e.REDIS_CLUSTER === "1" && !e.REDIS_URL) {
    throw new Error("bad environment: REDIS_CLUSTER: set REDIS_URL to a node of the cluster too");
  }
  if (e.API_TOKEN && e.API_TOKEN === e.API_READ_TOKEN) {
    throw new Error("bad environment: API_READ_TOKEN: must differ from API_TOKEN");
  }
  const access: AccessSettings = {
    apiToken: e.API_TOKEN,
    readToken: e.API_READ_TOKEN,
    tokensFile: e.API_TOKENS_FILE,
    allowedOrigins: list(e.ALLOWED_ORIGINS),
    allowedHosts: list(e.ALLOWED_HOSTS),
    sessionIdleS: e.SESSION_IDLE_S,
    sessionMaxS: e.SESSION_MAX_S,
    trustedProxies: trustedProxiesOf(e.TRUST_PROXY),
    auditMaxEntries: e.AUDIT_MAX_ENTRIES,
    changesPerMinute: e.RATE_LIMIT_PER_MIN,
  };
  return {
    redisUrl: e.REDIS_URL,
    redisCluster: e.REDIS_CLUSTER === "1",
    redisAppendfsync: e.REDIS_APPENDFSYNC,
    port: e.PORT,
    host: e.HOST ?? (tokensConfigured(access) ? "0.0.0.0" : "127.0.0.1"),
    access,
    devicesFile: e.DEVICES_FILE,
    workerDevices: e.WORKER_DEVICES?.split(",")
      .map((id) => id.trim())
      .filter(Boolean),
    workerId: e.WORKER_ID,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    // On a cluster, a hash tag: every key of the deployment in one slot (docs/scale.md).
    prefix: clusterPrefix(e.RIGFLOW_PREFIX, e.REDIS_CLUSTER === "1"),
    dataDir: e.RIGFLOW_DATA_DIR,
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxStreamsPerClient: e.MAX_STREAMS_PER_CLIENT,
    limits: {
      maxNodes: e.MAX_NODES,
      maxParamsBytes: e.MAX_PARAMS_BYTES,
      maxNodeTimeoutMs: e.MAX_NODE_TIMEOUT_MS,
      maxAttempts: e.MAX_ATTEMPTS,
      maxRunTimeoutMs: e.MAX_RUN_TIMEOUT_MS,
      defaultRunTimeoutMs: e.DEFAULT_RUN_TIMEOUT_MS,
      maxActiveRuns: e.MAX_ACTIVE_RUNS,
    },
    eventRetention: { runEventsMax: e.RUN_EVENTS_MAX, runEventsTtlS: e.RUN_EVENTS_TTL_S },
    runRetention: { runRetentionS: e.RUN_RETENTION_S, sweepIntervalMs: e.RUN_SWEEP_INTERVAL_MS },
  };
}
