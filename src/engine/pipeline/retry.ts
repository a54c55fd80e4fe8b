/**
 * A node's retry policy: how many attempts in all, and how long to wait before each retry. A
 * node's `retry` replaces its function's default as a whole. Fields added after the first version
 * are optional, so plans and jobs stored before them read as a fixed backoff without jitter.
 */
export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  attempts: number;
  /** The delay before a retry (fixed), or before the first retry (exponential). */
  backoffMs: number;
  /** "fixed" (the default): every retry waits backoffMs; "exponential": the delay doubles each time. */
  backoff?: "fixed" | "exponential";
  /** Exponential only: no delay is longer than this (default: {@link maxDelayMs}). */
  maxBackoffMs?: number;
  /** Draw each delay at random between half of it and all of it. */
  jitter?: boolean;
}

/** The longest any delay between attempts may be: one hour. */
export const maxDelayMs = 3_600_000;

/**
 * What is wrong with a policy, if anything: the field (by its name in the document) and why.
 * Checked for nodes' `retry` (a 400 naming the node) and, by a test, for drivers' defaults.
 */
export function retryPolicyProblem(policy: RetryPolicy): { field: string; message: string } | undefined {
  const backoff = policy.backoff ?? "fixed";
  if (backoff === "fixed" && policy.maxBackoffMs !== undefined) {
    return {
      field: "max_backoff_ms",
      message: `applies to "exponential" backoff only, and this retry's backoff is "fixed"`,
    };
  }
  if (backoff === "exponential" && policy.backoffMs === 0) {
    return {
      field: "backoff_ms",
      message: "exponential backoff needs a first delay above 0 (it doubles from there)",
    };
  }
  if (policy.maxBackoffMs !== undefined && policy.maxBackoffMs < policy.backoffMs) {
    return {
      field: "max_backoff_ms",
      message: `must be at least backoff_ms (${policy.backoffMs}), not ${policy.maxBackoffMs}`,
    };
  }
  return undefined;
}

/**
 * The delay before the retry that follows failed attempt `failedAttempt` (1 for the first attempt).
 * Fixed: backoffMs. Exponential: min(maxBackoffMs, backoffMs * 2^(failedAttempt - 1)). With
 * jitter, an integer drawn uniformly from [ceil(d / 2), d], d being that delay ("equal jitter"):
 * never more than the delay without jitter, so never over the cap, and never less than half of it.
 */
export function retryDelayMs(policy: RetryPolicy, failedAttempt: number, random = Math.random): number {
  const delay = baseDelayMs(policy, failedAttempt);
  if (!policy.jitter || delay === 0) return delay;
  const low = Math.ceil(delay / 2);
  return Math.min(delay, low + Math.floor(random() * (delay - low + 1)));
}

function baseDelayMs(policy: RetryPolicy, failedAttempt: number): number {
  if (policy.backoff !== "exponential" || policy.backoffMs === 0) return policy.backoffMs;
  const cap = Math.min(policy.maxBackoffMs ?? maxDelayMs, maxDelayMs);
  const doublings = Math.max(0, failedAttempt - 1);
  // 2 ** doublings grows past any cap long before it stops being a finite number (attempts <= 100).
  return Math.min(cap, Math.round(policy.backoffMs * 2 ** doublings));
}
