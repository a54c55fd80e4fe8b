// The real GRBL 1.1h firmware, built for Linux by grbl-sim, on a pseudo-terminal: the program named
// by GRBL_FIRMWARE, run by socat behind a pty link that a driver opens like /dev/ttyUSB0. For
// `npm run test:firmware` only: the firmware is not built by `npm test`.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface GrblFirmware {
  /** The pty a driver opens. */
  path: string;
  /** The firmware's working directory: its EEPROM.DAT (settings) lives there, across restarts. */
  dir: string;
  stop(): Promise<void>;
}

export function firmwareProgram(): string {
  const program = process.env.GRBL_FIRMWARE ?? "";
  if (!program || !existsSync(program)) {
    throw new Error(
      "GRBL_FIRMWARE must name a grbl-sim build of GRBL 1.1h (docs/firmware.md says how to build it); got " +
        (program ? `'${program}', which does not exist` : "nothing"),
    );
  }
  if (spawnSync("sh", ["-c", "command -v socat"]).status !== 0) {
    throw new Error("socat is not installed: run `bash scripts/ensure-system-packages.sh`");
  }
  return program;
}

/**
 * Starts the firmware in `dir` (a fresh one by default: GRBL's default settings; the same one again
 * to keep the settings written before). The firmware exits when the port is closed.
 */
export async function startGrblFirmware(
  dir = mkdtempSync(join(tmpdir(), "rigflow-grbl-")),
): Promise<GrblFirmware> {
  const program = firmwareProgram();
  const path = join(dir, `tty-${Date.now()}`);
  const child = spawn(
    "socat",
    [
      "-d",
      "-d",
      `pty,raw,echo=0,link=${path},wait-slave`,
      // -b: grbl-sim's block log goes to a file, not into the serial line.
      `EXEC:'${program} -n -s /dev/null -b ${path}.blocks',pty,raw,echo=0`,
    ],
    { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await untilListening(child, path);
  return {
    path,
    dir,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** socat makes the link before it waits for the slave to be opened ("wait-slave"). */
async function untilListening(child: ChildProcess, path: string): Promise<void> {
  let log = "";
  child.stderr?.on("data", (chunk: Buffer) => (log += chunk.toString()));
  for (let waited = 0; !existsSync(path); waited += 20) {
    if (child.exitCode !== null) throw new Error(`socat exited before the pty was ready:\n${log}`);
    if (waited > 5000) throw new Error(`no pty at ${path} after 5 s:\n${log}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
