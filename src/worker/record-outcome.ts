import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { isRedisFull } from "../engine/index.js";

/** The first wait before a refused write is sent again; each wait doubles, up to the cap. */
const firstRetryMs = 50;
/** Redis with room again is noticed within this long; each try costs it one refused command. */
const maxRetryMs = 1000;

/** What the logs say of an outcome the worker holds: which node, and how its command ended. */
export type HeldOutcome = Record<string, unknown> & { jobId: string | undefined; nodeId: string };

/**
 * Writes a finished command's outcome to the ledger until Redis takes it. `write` must be safe to
 * make again: Redis refuses a script at its first write, so a refused script has changed nothing,
 * and the node lifecycle's steps answer a repeat as the first time.
 *
 * While Redis refuses writes for lack of memory the outcome is held here, in memory, and written
 * again with a capped backoff. Failing the job instead would bring it back (BullMQ's stall check)
 * to a node still `running`, which a non-idempotent function must take for an interrupted command
 * (NODE_INTERRUPTED), though the command ended on the device. A job lock lost meanwhile is no
 * harm: the job that comes back finds the node recorded and skips it. While Redis is unreachable
 * there is nothing to do here: the worker's connection queues the write and sends it when Redis is
 * back (it never gives up on a command).
 *
 * Only a worker stopping past its grace period (`stopping`) gives up. The outcome is then logged
 * as an error, in full, for whoever checks the device, and the node's job comes up again as after
 * a crash.
 */
export async function untilRecorded<T>(
  write: () => Promise<T>,
  context: { log: Logger; stopping: AbortSignal; outcome: HeldOutcome },
): Promise<T> {
  const { log, stopping, outcome } = context;
  let delayMs = firstRetryMs;
  let refused = false;
  for (;;) {
    // The node lifecycle answers a recorded failure by throwing what BullMQ should see.
    const answer = await write().then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    if (!("error" in answer) || !isRedisFull(answer.error)) {
      if (refused) log.info(outcome, "Redis takes writes again: wrote the command's outcome");
      if ("error" in answer) throw answer.error;
      return answer.result;
    }
    if (!refused) {
      log.warn(
        { ...outcome, err: answer.error },
        "Redis refuses writes (out of memory): holding the command's outcome until it takes them again",
      );
    }
    refused = true;
    await sleep(delayMs, undefined, { signal: stopping }).catch(() => undefined);
    if (stopping.aborted) {
      log.error(
        outcome,
        `the worker is stopping and Redis still refuses writes: the command of node '${outcome.nodeId}' ` +
          "ended as logged here, but that is not recorded. Its job comes up again as after a crash " +
          "(a non-idempotent node then fails NODE_INTERRUPTED): check the device",
      );
      throw new Error(`the outcome of node '${outcome.nodeId}' was not recorded: Redis refused writes`);
    }
    delayMs = Math.min(delayMs * 2, maxRetryMs);
  }
}
