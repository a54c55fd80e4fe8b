import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

export interface ApiProcess {
  pid: number;
  /** The API's base URL, once it listens ("" before). */
  url: string;
  /** Everything the process has logged so far (pino JSON lines on stderr). */
  log(): string;
  /** Whether the process has not exited yet. */
  alive(): boolean;
  /** SIGTERM, and wait for the process to exit. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a crash would, and wait for the exit. */
  kill(): Promise<void>;
}

/**
 * Starts `src/bin/api.ts` as a real process on a free port (`env` gives at least REDIS_URL,
 * RIGFLOW_PREFIX and DEVICES_FILE) and resolves once it listens. Its handle is pushed onto
 * `started` (if given) as soon as it is spawned, so a test can stop it even if it never listens.
 */
export function startApiProcess(env: Record<string, string>, started?: ApiProcess[]): Promise<ApiProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/bin/api.ts"], {
    cwd: root,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  const running = () => child.exitCode === null && child.signalCode === null;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const api: ApiProcess = {
    pid: child.pid as number,
    url: "",
    log: () => log,
    alive: running,
    async stop() {
      if (running()) child.kill("SIGTERM");
      return exited;
    },
    async kill() {
      if (running()) child.kill("SIGKILL");
      await exited;
    },
  };
  started?.push(api);
  return new Promise((resolve, reject) => {
    child.stderr?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      const port = /"port":(\d+),"msg":"api listening"/.exec(log)?.[1];
      if (port && !api.url) {
        api.url = `http://127.0.0.1:${port}`;
        resolve(api);
      }
    });
    child.once("exit", (code) => reject(new Error(`api exited (${code}):\n${log.slice(-3000)}`)));
  });
}
