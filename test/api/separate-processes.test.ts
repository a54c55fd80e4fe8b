import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { newPrefix, redisUrl, servo } from "../support/context.js";
import { doc, move } from "../support/pipelines.js";
import { startWorkerProcess, writeDevicesFile, type WorkerProcess } from "../support/worker-process.js";

const root = fileURLToPath(new URL("../..", import.meta.url));
const children: ChildProcess[] = [];
const workers: WorkerProcess[] = [];

afterAll(async () => {
  await Promise.all(workers.map((worker) => worker.stop()));
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
  }
});

/** Starts `src/bin/api.ts` on a free port and resolves with its base URL once it listens. */
function startApiProcess(env: Record<string, string>): Promise<string> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/bin/api.ts"], {
    cwd: root,
    env: { ...process.env, PORT: "0", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let log = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      log += chunk.toString();
      const port = /"port":(\d+),"msg":"api listening"/.exec(log)?.[1];
      if (port) resolve(`http://127.0.0.1:${port}`);
    });
    child.once("exit", (code) => reject(new Error(`api exited (${code}):\n${log}`)));
  });
}

// The docker-compose shape on one machine: an API process and one worker process per device,
// sharing one Redis; data flows from a node on one worker to a node on the other.
describe("npm run api and npm run worker", () => {
  it("run a pipeline across two workers, each hosting only its own device", async () => {
    const prefix = newPrefix();
    const devicesFile = writeDevicesFile([servo("servo-1"), servo("servo-2")]);
    const env = { REDIS_URL: redisUrl(), RIGFLOW_PREFIX: prefix, DEVICES_FILE: devicesFile };
    const base = await startApiProcess(env);
    workers.push(await startWorkerProcess(prefix, devicesFile, { WORKER_DEVICES: "servo-1" }));
    workers.push(await startWorkerProcess(prefix, devicesFile, { WORKER_DEVICES: "servo-2" }));

    const pipeline = doc(
      "split",
      [move("a", "servo-1", 30), { id: "b", device_id: "servo-2", function_id: "move" }],
      [{ source: "a", target: "b", source_output: "position", target_input: "position" }],
    );
    const response = await fetch(`${base}/api/pipelines/execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(pipeline),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as {
      success: boolean;
      results: Record<string, { outputs: unknown }>;
    };
    expect(body.success).toBe(true);
    expect(body.results.b?.outputs).toEqual({ complete: true, position: 30 });

    const devices = (await (await fetch(`${base}/api/devices`)).json()) as {
      devices: { device_id: string; worker_id: string | null }[];
    };
    const owners = devices.devices.map((d) => d.worker_id);
    expect(owners.every((owner) => owner !== null)).toBe(true);
    expect(new Set(owners).size).toBe(2);
  });
});
