/** A bounded number of tasks in flight, for benches that submit many runs. */

/**
 * Runs `task(0)` … `task(count - 1)`, at most `limit` at once. After a failure no task is started,
 * those under way are waited for (nothing left running), then the first failure is thrown.
 */
export async function runPool(
  count: number,
  limit: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (failure === undefined && next < count) {
      const index = next;
      next += 1;
      try {
        await task(index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, lane));
  if (failure !== undefined) {
    throw failure.error instanceof Error ? failure.error : new Error(String(failure.error));
  }
}
