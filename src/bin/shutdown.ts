import type { Logger } from "pino";

/** Runs the closers in order on SIGINT or SIGTERM, once; a second signal exits at once. */
export function onShutdown(log: Logger, closers: (() => Promise<void>)[]): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, "shutting down");
    void (async () => {
      for (const close of closers) {
        await close().catch((error: unknown) => log.error({ err: error }, "error while shutting down"));
      }
      process.exit(0);
    })();
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}
