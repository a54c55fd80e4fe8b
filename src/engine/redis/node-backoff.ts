import type { BackoffOptions, BackoffStrategy } from "bullmq";
import { retryDelayMs, type RetryPolicy } from "../pipeline/retry.js";

/**
 * The delay before a node's retry is decided once, by NodeLifecycle.fail, which records it in
 * `node_retrying` and throws a {@link NodeRetryError} carrying it; BullMQ then waits exactly that
 * long, through {@link nodeBackoffStrategy}. Node jobs name this backoff type, which BullMQ does
 * not know, so it asks the worker's strategy (a worker without it would fail to retry them).
 */
export const nodeBackoffType = "rigflow-node";

/** A failed attempt that is to be tried again after `delayMs` (jitter included). */
export class NodeRetryError extends Error {
  override readonly name = "NodeRetryError";
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
  }
}

/**
 * For node workers' `settings.backoffStrategy`. BullMQ calls it with the failed attempt's number
 * and the error the processor threw. Any other error than a NodeRetryError (a fault around the
 * command, such as Redis going away while the outputs were being recorded) gets the node's policy.
 */
export const nodeBackoffStrategy: BackoffStrategy = (attemptsMade, _type, error, job) => {
  if (error instanceof NodeRetryError) return error.delayMs;
  const data = job?.data as { retry?: RetryPolicy } | undefined;
  return data?.retry ? retryDelayMs(data.retry, attemptsMade) : 0;
};

/** A node job's backoff option: BullMQ asks {@link nodeBackoffStrategy}. */
export const nodeBackoff = (policy: RetryPolicy): BackoffOptions => ({
  type: nodeBackoffType,
  // Not what BullMQ waits (the strategy decides); shown in Bull-board as the job's backoff.
  delay: policy.backoffMs,
});
