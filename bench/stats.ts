import { performance } from "node:perf_hooks";

/** Small numeric helpers for timing. */

export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The nearest-rank percentile: the smallest value with at least `p` % of the values at or below it. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error("percentile of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

/** Runs `once` `warmups` times untimed, then `repetitions` times, and returns each timed result. */
export async function repeat(
  warmups: number,
  repetitions: number,
  once: () => Promise<number>,
): Promise<number[]> {
  for (let i = 0; i < warmups; i += 1) await once();
  const results: number[] = [];
  for (let i = 0; i < repetitions; i += 1) results.push(await once());
  return results;
}

/** Rejects with a clear message if `promise` has not settled within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves once `condition` holds, checking every few ms; rejects after `ms`. */
export async function waitUntil(condition: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`${what}: still not so after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Waits for every promise to settle (so nothing is left running), then throws the first failure. */
export async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises);
  for (const result of results) {
    if (result.status === "rejected")
      throw result.reason instanceof Error ? result.reason : new Error(String(result.reason));
  }
}

/** The two timings every system under test offers, built from its "run this workload once". */
export function timings<W>(runOnce: (workload: W) => Promise<void>) {
  return {
    /** ms from submit to completed, one run. */
    async timeRun(workload: W): Promise<number> {
      const start = performance.now();
      await runOnce(workload);
      return performance.now() - start;
    },
    /** ms from the first submit to the last completion, `count` runs at once. */
    async timeConcurrentRuns(workload: W, count: number): Promise<number> {
      const start = performance.now();
      await settleAll(Array.from({ length: count }, () => runOnce(workload)));
      return performance.now() - start;
    },
  };
}
