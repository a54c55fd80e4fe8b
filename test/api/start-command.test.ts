import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import { describe, expect, it, vi } from "vitest";
import { seedDemo, seedDemoAnswer } from "../support/pipelines.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

// The README's start command, end to end: an embedded redis-server with AOF under the data dir,
// fsynced before each write is answered (appendfsync always, the default), the API and a worker
// with the demo devices; the seed's demo gives the seed's answer; Ctrl-C (SIGINT) stops
// everything, Redis included.
describe("npm start", () => {
  it("comes up on embedded Redis, answers the seed's demo in the seed's shape, and stops cleanly", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "rigflow-start-"));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: "0",
      RIGFLOW_DATA_DIR: dataDir,
      LOG_LEVEL: "info",
    };
    delete env.REDIS_URL;
    delete env.REDIS_APPENDFSYNC;
    delete env.DEVICES_FILE;
    const child = spawn(process.execPath, ["--import", "tsx", "src/bin/start.ts"], {
      cwd: root,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    try {
      const banner = await new Promise<string>((resolve, reject) => {
        let out = "";
        child.stdout.on("data", (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes("\n")) resolve(out);
        });
        void exited.then((code) => reject(new Error(`start exited (${code}):\n${stderr}`)));
      });
      const [, base, redisPort] = /(http:\/\/localhost:\d+).*redis:\/\/127\.0\.0\.1:(\d+)/.exec(banner) ?? [];
      expect(base).toBeDefined();

      const response = await fetch(`${base}/api/pipelines/execute`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(seedDemo),
      });
      expect(response.status).toBe(200);
      const body = (await response.json()) as Record<string, unknown>;
      expect(body).toMatchObject(seedDemoAnswer);
      expect(typeof body.execution_time).toBe("number");
      expect(body.execution_time).toBeGreaterThan(0);
      expect(typeof body.run_id).toBe("string");

      await vi.waitFor(
        async () => {
          const devices = (await (await fetch(`${base}/api/devices`)).json()) as {
            devices: { device_id: string; status: string }[];
          };
          expect(devices.devices.map((d) => [d.device_id, d.status])).toEqual([
            ["servo-1", "idle"],
            ["servo-2", "idle"],
          ]);
        },
        { timeout: 2000, interval: 50 },
      );
      expect(existsSync(join(dataDir, "redis"))).toBe(true);
      expect(readdirSync(join(dataDir, "redis")).join(" ")).toContain("appendonly");
      expect(await configGet(Number(redisPort), "appendfsync")).toBe("always");

      // A second start on the same data dir would share its AOF: it refuses, and says why.
      const second = spawn(process.execPath, ["--import", "tsx", "src/bin/start.ts"], {
        cwd: root,
        env,
        stdio: ["ignore", "ignore", "pipe"],
      });
      let secondErr = "";
      second.stderr.on("data", (chunk: Buffer) => (secondErr += chunk.toString()));
      expect(await new Promise((resolve) => second.once("exit", resolve))).toBe(1);
      expect(secondErr).toContain("another Rigflow");

      child.kill("SIGINT");
      expect(await exited).toBe(0);
      expect(await accepts(Number(redisPort))).toBe(false);
    } finally {
      // On a failed assertion: stop it as Ctrl-C would, so that its Redis stops too; kill it only if
      // it will not stop.
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGINT");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await exited;
    }
  });
});

async function configGet(port: number, name: string): Promise<string | undefined> {
  const client = new Redis(port, "127.0.0.1", { maxRetriesPerRequest: 1 });
  try {
    const [, value] = (await client.call("CONFIG", "GET", name)) as string[];
    return value;
  } finally {
    client.disconnect();
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
