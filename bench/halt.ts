/**
 * How long a halt (a cancel) takes to reach a running command: when its pub/sub message arrives
 * (the fast path), and when the message was lost (a subscriber reconnecting) so that only the
 * durable halt flag, which workers re-read every 500 ms for the runs they are running
 * (src/worker/halt-watch.ts), carries it. A lost message is made by writing the flag alone, as
 * run-cancel.lua does, without the publish that Engine.cancelRun sends after it.
 */
import { drivers } from "../src/drivers/registry.js";
import { connectRedis, redisKeys } from "../src/engine/index.js";
import { openRigflow } from "./rigflow.js";
import { waitUntil } from "./stats.js";

export interface HaltResult {
  /** ms from the cancel to the command's stop being recorded, per sample. */
  publishedMs: number[];
  lostMs: number[];
}

const deviceId = "servo-halt";
/** A long move, surely running when it is halted. */
const document = (n: number) => ({
  id: `halt_${n}`,
  name: "halt",
  nodes: [{ id: "long", device_id: deviceId, function_id: "move", params: { position: 150 } }],
  edges: [],
});

export async function measureHaltReach(
  redisUrl: string,
  prefix: string,
  samples: number,
): Promise<HaltResult> {
  const devices = [{ id: deviceId, driver: "mock-servo", capacity: 1, options: { speed: 20 } }];
  const rigflow = await openRigflow(redisUrl, prefix, devices, drivers);
  const keys = redisKeys(prefix);
  const redis = connectRedis(redisUrl, { blocking: false, name: "bench-halt" });
  const result: HaltResult = { publishedMs: [], lostMs: [] };
  try {
    for (let i = 0; i < samples * 2; i += 1) {
      const lost = i % 2 === 1;
      const { runId } = await rigflow.engine.submitRun({ document: document(i) });
      await waitUntil(
        async () => (await rigflow.engine.getRun(runId)).nodes[0]?.status === "running",
        10_000,
        `run ${runId} running`,
      );
      const haltedAt = Date.now();
      if (lost) await redis.hset(keys.run(runId), "halt", "cancelled");
      else await rigflow.engine.cancelRun(runId);
      const run = await rigflow.engine.waitForRun(runId, 10_000);
      const stoppedAt = Date.parse(run.nodes[0]?.finishedAt ?? "");
      if (run.status !== "cancelled" || Number.isNaN(stoppedAt)) {
        throw new Error(`halt bench: run ${runId} ended ${run.status}, not cancelled`);
      }
      (lost ? result.lostMs : result.publishedMs).push(stoppedAt - haltedAt);
    }
    return result;
  } finally {
    await redis.quit();
    await rigflow.close();
  }
}

/** The section's lines: both paths, median and worst, against the re-read interval. */
export function printHaltReach(result: HaltResult, recheckMs: number): void {
  const line = (name: string, values: readonly number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? NaN;
    return `  ${name}: median ${median} ms, worst ${sorted.at(-1) ?? NaN} ms (${sorted.length} samples)`;
  };
  console.log("\nHalt reaching a running command (cancel -> the command's stop recorded):");
  console.log(line("message delivered (pub/sub)", result.publishedMs));
  console.log(line(`message lost (halt flag re-read every ${recheckMs} ms)`, result.lostMs));
}
