import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

export interface RedisServerOptions {
  /** Where AOF files live; without it the server keeps nothing on disk (tests). */
  dataDir?: string;
  port?: number;
  /** Install redis-server from Debian's packages when it is missing (the start command does). */
  install?: boolean;
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
 * a data dir it runs as production should: AOF on (fsync every second), no eviction.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  ensureRedisServer(options.install ?? false);
  const port = options.port ?? (await freePort());
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--daemonize", "no"];
  args.push("--maxmemory-policy", "noeviction");
  if (options.dataDir) {
    mkdirSync(options.dataDir, { recursive: true });
    args.push("--dir", options.dataDir, "--appendonly", "yes", "--appendfsync", "everysec");
  } else {
    args.push("--appendonly", "no");
  }
  const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
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
