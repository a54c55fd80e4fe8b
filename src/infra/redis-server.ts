import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

/**
 * When the AOF reaches the disk. `always`: before Redis answers a write, so nothing acknowledged is
 * lost even to a power cut. `everysec`: once a second, so a crash of the host (not of redis-server)
 * can lose up to about a second of acknowledged writes. See docs/durability.md.
 */
export type AppendFsync = "always" | "everysec";

export interface RedisServerOptions {
  /** Where AOF files live; without it the server keeps nothing on disk (tests). */
  dataDir?: string;
  port?: number;
  /** With a data dir: when the AOF is fsynced; `always` (the default) unless chosen otherwise. */
  appendfsync?: AppendFsync;
  /** Install redis-server from Debian's packages when it is missing (the start command does). */
  install?: boolean;
  /** More redis-server arguments, after Rigflow's own (a test's cluster node: `--cluster-enabled yes`). */
  args?: string[];
}

export interface RedisServerHandle {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

const ensureScript = fileURLToPath(new URL("../../scripts/ensure-system-packages.sh", import.meta.url));

/**
 * Starts a private redis-server as a child process and resolves once it accepts connections. With
 * a data dir it runs as production should: AOF on, fsynced before each write is answered, no eviction.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  ensureRedisServer(options.install ?? false);
  const port = options.port ?? (await freePort());
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--daemonize", "no"];
  args.push("--maxmemory-policy", "noeviction");
  // Every run has an event stream of its own, most of them a handful of entries. Redis reserves a
  // stream's newest node up to this size (4096 by default): 2048 halves what a short run's stream
  // costs (4.7 KB to 2.7 KB for 5 events), for 7 % more on a long one (docs/ARCHITECTURE.md).
  args.push("--stream-node-max-bytes", "2048");
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true });
    const fsync = options.appendfsync ?? "always";
    // no-appendfsync-on-rewrite is Redis's default, spelled out: `yes` would skip fsyncs during
    // an AOF rewrite and so answer writes that are not on disk yet.
    args.push("--dir", options.dataDir, "--appendonly", "yes", "--appendfsync", fsync);
    args.push("--no-appendfsync-on-rewrite", "no");
  } else {
    args.push("--appendonly", "no");
  }
  args.push(...(options.args ?? []));
  const releaseLock = options.dataDir ? lockDataDir(options.dataDir) : () => undefined;
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
  // However this process ends, its Redis ends with it (short of SIGKILL, which nothing can catch).
  const killOnExit = () => child.kill("SIGTERM");
  process.on("exit", killOnExit);
  child.once("exit", () => {
    process.off("exit", killOnExit);
    releaseLock();
  });
  await waitUntilReady(child, port);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid as number,
    stop: () => stopChild(child),
  };
}

function ensureRedisServer(install: boolean): void {
  if (spawnSync("sh", ["-c", "command -v redis-server"]).status === 0) return;
  if (!install) {
    throw new Error(
      "redis-server is not installed: run `bash scripts/ensure-system-packages.sh` (Debian) or install Redis 7",
    );
  }
  const result = spawnSync("bash", [ensureScript, "redis-server"], { stdio: "inherit" });
  if (result.status !== 0) {
    throw new Error(
      "redis-server is missing and could not be installed from Debian's packages. Install Redis 7 yourself, or set REDIS_URL to an existing Redis.",
    );
  }
}

/**
 * Two Redis servers appending to one AOF would corrupt it: a pid file in the data dir keeps a
 * second Rigflow from starting on it while the first is alive.
 */
function lockDataDir(dataDir: string): () => void {
  const lock = join(dataDir, "rigflow.pid");
  try {
    writeFileSync(lock, String(process.pid), { flag: "wx" });
  } catch {
    const holder = Number(readFileSync(lock, "utf8"));
    if (holder && holder !== process.pid && isAlive(holder)) {
      throw new Error(
        `another Rigflow (pid ${holder}) is running on ${dataDir}; stop it, or set RIGFLOW_DATA_DIR`,
      );
    }
    writeFileSync(lock, String(process.pid));
  }
  return () => rmSync(lock, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function waitUntilReady(child: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = "";
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) {
        child.stdout?.off("data", onData);
        child.stdout?.resume();
        resolve();
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) =>
      reject(new Error(`redis-server on port ${port} exited (${code}):\n${output.slice(-2000)}`)),
    );
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}
