/**
 * Waits `ms`, or less if `signal` aborts first (or has already): says which. Never rejects, so
 * each driver decides what an abort means for its device (stop it, report where it stopped).
 */
export function waitOrAbort(ms: number, signal: AbortSignal): Promise<"elapsed" | "aborted"> {
  if (signal.aborted) return Promise.resolve("aborted");
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve("elapsed");
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve("aborted");
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
