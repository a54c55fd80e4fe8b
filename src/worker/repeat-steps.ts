/**
 * Runs a bounded background step again and again: at once after a step that says more is due, else
 * after `intervalMs`. One step at a time; a failed step is reported and tried again at the interval.
 * The returned stop ends the repetition and waits for a step under way, so that the caller may then
 * close the connection the step uses.
 */
export function repeatSteps<Result extends { more: boolean }>(options: {
  step: () => Promise<Result>;
  intervalMs: number;
  onStep: (result: Result) => unknown;
  onError: (error: unknown) => unknown;
}): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const next = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = options.step().then(
        (result) => {
          options.onStep(result);
          next(result.more ? 0 : options.intervalMs);
        },
        (error: unknown) => {
          options.onError(error);
          next(options.intervalMs);
        },
      );
    }, delayMs);
  };
  next(0);

  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
