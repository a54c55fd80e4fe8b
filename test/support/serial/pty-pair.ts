import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface PtyPair {
  /** The end a driver opens, as it would open /dev/ttyUSB0. */
  hostPath: string;
  /** The end a device simulator opens. */
  devicePath: string;
  /** Unplugs the cable: kills socat, so both ends close, and the paths go away. */
  unplug(): Promise<void>;
  /** Plugs a new cable in at the same paths (after an unplug). */
  replug(): Promise<void>;
}

/**
 * A virtual serial cable: two pseudo-terminals joined by socat, raw and without echo, as DESIGN.md
 * describes. A missing socat fails loudly (`npm test` installs it first).
 */
export async function createPtyPair(): Promise<PtyPair> {
  if (spawnSync("sh", ["-c", "command -v socat"]).status !== 0) {
    throw new Error("socat is not installed: run `bash scripts/ensure-system-packages.sh`");
  }
  const dir = mkdtempSync(join(tmpdir(), "rigflow-pty-"));
  const hostPath = join(dir, "host");
  const devicePath = join(dir, "device");
  let cable = await startSocat(hostPath, devicePath);
  return {
    hostPath,
    devicePath,
    async unplug() {
      await cable.stop();
      // socat killed outright leaves its links behind, pointing nowhere.
      rmSync(hostPath, { force: true });
      rmSync(devicePath, { force: true });
    },
    async replug() {
      cable = await startSocat(hostPath, devicePath);
    },
  };
}

async function startSocat(hostPath: string, devicePath: string): Promise<{ stop(): Promise<void> }> {
  const child = spawn(
    "socat",
    ["-d", "-d", `pty,raw,echo=0,link=${hostPath}`, `pty,raw,echo=0,link=${devicePath}`],
    {
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await waitForLinks(child);
  return {
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

/** socat says "starting data transfer loop" once both ptys and their links exist. */
function waitForLinks(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes("starting data transfer loop")) resolve();
    });
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`socat exited (${code}) before it was ready:\n${log}`)));
  });
}
