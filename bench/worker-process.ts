/**
 * Worker processes for the crash-recovery bench: `src/bin/worker.ts` started as an operator starts
 * it, so that a SIGKILL is a real crash (no finally block runs, no lease is released). Its own
 * helper rather than test/support's: the bench must not depend on test code.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { DeviceConfig } from "../src/drivers/types.js";
import { withTimeout } from "./stats.js";

const root = fileURLToPath(new URL("..", import.meta.url));
/** `node --import tsx` compiles the worker's sources on start: seconds on a busy machine. */
const readyTimeoutMs = 30_000;
/** Past this a SIGTERM is followed by a SIGKILL, so a stuck worker cannot hang the bench. */
const stopTimeoutMs = 10_000;

/** One pino line of a worker's log (JSON on stderr). */
export type LogLine = Record<string, unknown> & { msg?: string; time?: number };

export interface WorkerProcess {
  pid: number;
  workerId: string;
  /** What the worker said once ready: the devices it hosts, and those another worker holds. */
  hosts: string[];
  refused: string[];
  /** The log lines so far whose message is `msg`. */
  logged(msg: string): LogLine[];
  /** SIGKILL, as a crash would; resolves with Date.now() at the signal, once the process is gone. */
  kill(): Promise<number>;
  /** SIGTERM (a graceful stop releases its leases at once), SIGKILL if it is still there later. */
  stop(): Promise<void>;
}

/** Writes a devices file (the contract's shape) into `dir` and returns its path. */
export function writeDevicesFile(dir: string, devices: readonly DeviceConfig[]): string {
  const path = join(dir, "devices.json");
  const file = devices.map(({ id, driver, capacity, options }) => ({ id, driver, capacity, options }));
  writeFileSync(path, JSON.stringify({ devices: file }));
  return path;
}

/**
 * Starts worker processes on one Redis prefix and devices file, and remembers every one it
 * spawned, so that `killAll` (and, failing that, this process's exit) leaves none behind.
 */
export class WorkerProcesses {
  private readonly children = new Set<ChildProcess>();
  private readonly killOnExit = () => {
    for (const child of this.children) if (running(child)) child.kill("SIGKILL");
  };

  constructor(
    private readonly redisUrl: string,
    private readonly prefix: string,
    private readonly devicesFile: string,
  ) {
    process.on("exit", this.killOnExit);
  }

  /** Spawns a worker with this id and resolves once it has logged "worker ready". */
  async start(workerId: string): Promise<WorkerProcess> {
    const child = spawn(process.execPath, ["--import", "tsx", "src/bin/worker.ts"], {
      cwd: root,
      env: {
        ...process.env,
        REDIS_URL: this.redisUrl,
        RIGFLOW_PREFIX: this.prefix,
        DEVICES_FILE: this.devicesFile,
        WORKER_ID: workerId,
        // Every device in the file, whatever the bench's own environment says.
        WORKER_DEVICES: "",
        LOG_LEVEL: "info",
        // A worker stopped mid-command (only when the bench fails) stops the command soon.
        SHUTDOWN_GRACE_MS: "1000",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.children.add(child);
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const lines = collectLog(child);
    const ready = await withTimeout(
      readyLine(child, lines),
      readyTimeoutMs,
      `worker ${workerId} (pid ${child.pid}) getting ready`,
    );
    return {
      pid: child.pid as number,
      workerId,
      hosts: (ready.devices as string[] | undefined) ?? [],
      refused: (ready.refused as string[] | undefined) ?? [],
      logged: (msg) => lines.filter((line) => line.msg === msg),
      async kill() {
        if (!running(child)) throw new Error(`worker ${workerId} (pid ${child.pid}) died before its kill`);
        const at = Date.now();
        child.kill("SIGKILL");
        await exited;
        return at;
      },
      async stop() {
        if (!running(child)) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), stopTimeoutMs);
        await exited;
        clearTimeout(timer);
      },
    };
  }

  /** SIGKILLs, by pid, every spawned worker still running and waits for each to exit. */
  async killAll(): Promise<void> {
    await Promise.all(
      [...this.children].filter(running).map(
        (child) =>
          new Promise<void>((resolve) => {
            child.once("exit", () => resolve());
            child.kill("SIGKILL");
          }),
      ),
    );
    this.children.clear();
    process.off("exit", this.killOnExit);
  }
}

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

/** Parses the child's stderr into log lines as they come; a line that is not JSON is kept as its text. */
function collectLog(child: ChildProcess): LogLine[] {
  const lines: LogLine[] = [];
  let partial = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split("\n");
    partial = parts.pop() ?? "";
    for (const text of parts.filter(Boolean)) {
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        lines.push({ text });
      }
    }
  });
  return lines;
}

/** Resolves with the "worker ready" line; rejects, with the log's tail, if the process exits first. */
function readyLine(child: ChildProcess, lines: LogLine[]): Promise<LogLine> {
  return new Promise((resolve, reject) => {
    const look = () => {
      const ready = lines.find((line) => line.msg === "worker ready");
      if (!ready) return;
      child.stderr?.off("data", look);
      child.off("exit", onExit);
      resolve(ready);
    };
    const onExit = (code: number | null) => {
      const tail = lines.slice(-10).map((line) => JSON.stringify(line));
      reject(new Error(`worker pid ${child.pid} exited (${code}) before it was ready:\n${tail.join("\n")}`));
    };
    // After collectLog's listener, so each chunk is parsed before it is looked at.
    child.stderr?.on("data", look);
    child.once("exit", onExit);
  });
}
