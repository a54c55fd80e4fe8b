/**
 * Child processes the live-events bench talks to over IPC: each is a bench/*-main.ts script run
 * with `node --import tsx`, says when it is ready, answers requests, and is measured from outside
 * through /proc (its memory is then its own, not the bench's).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { withTimeout } from "./stats.js";

const root = fileURLToPath(new URL("..", import.meta.url));
/** `node --import tsx` compiles the sources on start: seconds on a busy machine. */
const readyTimeoutMs = 30_000;
/** Past this a SIGTERM is followed by a SIGKILL, so a stuck child cannot hang the bench. */
const stopTimeoutMs = 10_000;

/** What a child sends: once `{ready}`, then one `{id, result}` or `{id, error}` per request. */
export type ChildMessage =
  { ready: Record<string, unknown> } | { id: number; result: unknown } | { id: number; error: string };

export interface Memory {
  /** Resident set now, and its peak (VmHWM), in MB. */
  rssMb: number;
  peakMb: number;
}

export interface BenchChild {
  name: string;
  pid: number;
  /** What the child said when it was ready (its port, say). */
  info: Record<string, unknown>;
  request<T>(body: Record<string, unknown>, timeoutMs: number): Promise<T>;
  memory(): Memory;
  /** SIGTERM (the child closes what it opened), SIGKILL if it is still there later. */
  stop(): Promise<void>;
}

/**
 * Spawns `bench/<script>` with `config` as its one argument (JSON). `minOpenFiles` raises the
 * child's soft limit on open files when the bench's is lower (up to the hard limit, as `ulimit -n`
 * may): a process holding a socket per client needs more than the usual 1024 at 1,000 clients.
 */
export async function spawnChild(
  name: string,
  script: string,
  config: unknown,
  minOpenFiles = 0,
): Promise<BenchChild> {
  const node = [process.execPath, "--import", "tsx", `bench/${script}`, JSON.stringify(config)];
  const command = withOpenFiles(node, minOpenFiles);
  const child = spawn(command[0] as string, command.slice(1), {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.on("exit", killOnExit);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  void exited.then(() => process.off("exit", killOnExit));
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  child.once("exit", (code, signal) => {
    for (const { reject } of pending.values()) reject(new Error(`${name} exited (${code ?? signal})`));
    pending.clear();
  });
  child.on("message", (message: ChildMessage) => {
    if ("ready" in message) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if ("error" in message) waiter?.reject(new Error(`${name}: ${message.error}`));
    else waiter?.resolve(message.result);
  });
  let info: Record<string, unknown>;
  try {
    info = await withTimeout(ready(child, name), readyTimeoutMs, `${name} (pid ${child.pid}) getting ready`);
  } catch (error) {
    child.kill("SIGKILL");
    await exited;
    throw error;
  }
  let sequence = 0;
  return {
    name,
    pid: child.pid as number,
    info,
    request<T>(body: Record<string, unknown>, timeoutMs: number) {
      sequence += 1;
      const id = sequence;
      const answer = new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: (value) => resolve(value as T), reject });
      });
      child.send({ id, body });
      return withTimeout(answer, timeoutMs, `${name}: ${String(body.op)}`);
    },
    memory: () => readMemory(child.pid as number),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), stopTimeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

function ready(child: ChildProcess, name: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: ChildMessage) => {
      if (!("ready" in message)) return;
      child.off("exit", onExit);
      child.off("message", onMessage);
      resolve(message.ready);
    };
    const onExit = (code: number | null) => reject(new Error(`${name} exited (${code}) before it was ready`));
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

/** VmRSS and VmHWM from /proc/<pid>/status. */
export function readMemory(pid: number): Memory {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${field}`);
    return Number(match[1]);
  };
  return { rssMb: kb("VmRSS") / 1024, peakMb: kb("VmHWM") / 1024 };
}

/** The command, run under `sh -c 'ulimit -n N && exec ...'` if this process's soft limit is below N. */
function withOpenFiles(command: string[], minOpenFiles: number): string[] {
  const limits = /^Max open files\s+(\S+)\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
  const value = (text: string | undefined) => (text === "unlimited" ? Infinity : Number(text));
  const soft = value(limits?.[1]);
  const hard = value(limits?.[2]);
  if (soft >= minOpenFiles) return command;
  if (hard < minOpenFiles) {
    throw new Error(
      `the bench needs ${minOpenFiles} open files per process and the hard limit is ${hard}: ` +
        `raise it (ulimit -Hn as root, or LimitNOFILE) and run again`,
    );
  }
  return ["sh", "-c", `ulimit -n ${minOpenFiles} && exec "$0" "$@"`, ...command];
}
