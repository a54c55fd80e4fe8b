import type { Logger } from "pino";

/**
 * Runs the closers in order on SIGINT or SIGTERM, once. Ctrl-C under `npm start` reaches this
 * process several times at once (from the terminal, and relayed by npm and tsx), so only a signal
 * that comes a second or more after the first one means "exit now".
 */
export function onShutdown(log: Logger, closers: (() => Promise<void>)[]): void {
  let firstAt: number | undefined;
  const stop = (signal: string) => {
    if (firstAt !== undefined) {
      if (Date.now() - firstAt < 1000) return;
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    firstAt = Date.now();
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
