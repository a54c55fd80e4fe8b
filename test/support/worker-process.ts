import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { DeviceConfig } from "../../src/drivers/types.js";
import { redisUrl } from "./context.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

export interface WorkerProcess {
  pid: number;
  /** Everything the process has logged so far (pino JSON lines on stderr). */
  log(): string;
  /** Whether the process has not exited yet. */
  alive(): boolean;
  /** SIGTERM, and wait for the process to exit. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a crash would, and wait for the exit. */
  kill(): Promise<void>;
}

/** Writes a devices file in the contract's shape and returns its path. */
export function writeDevicesFile(devices: DeviceConfig[]): string {
  const path = join(mkdtempSync(join(tmpdir(), "rigflow-devices-")), "devices.json");
  const file = devices.map(({ id, driver, capacity, path, baudRate, options }) => ({
    id,
    driver,
    capacity,
    ...(path !== undefined && { path }),
    ...(baudRate !== undefined && { baud_rate: baudRate }),
    options,
  }));
  writeFileSync(path, JSON.stringify({ devices: file }));
  return path;
}

/**
 * Starts `src/bin/worker.ts` as a real process and resolves once it says it is ready. Its handle is
 * pushed onto `started` (if given) as soon as it is spawned, so a test can stop it even if it never
 * gets ready. Pass `REDIS_URL` in `env` to point it at another Redis than the tests' own.
 */
export function startWorkerProcess(
  prefix: string,
  devicesFile: string,
  env: Record<string, string> = {},
  started?: WorkerProcess[],
): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/bin/worker.ts"], {
    cwd: root,
    env: {
      ...process.env,
      REDIS_URL: redisUrl(),
      RIGFLOW_PREFIX: prefix,
      DEVICES_FILE: devicesFile,
      LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const worker = handle(child, () => log);
  started?.push(worker);
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      log += chunk.toString();
      if (!ready && log.includes('"msg":"worker ready"')) {
        ready = true;
        resolve(worker);
      }
    };
    let ready = false;
    child.stderr?.on("data", onData);
    child.once("exit", (code) =>
      reject(new Error(`worker exited (${code}) before it was ready:\n${log.slice(-3000)}`)),
    );
  });
}

function handle(child: ChildProcess, log: () => string): WorkerProcess {
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    pid: child.pid as number,
    log,
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}
