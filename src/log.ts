import { pino, type Logger } from "pino";
import { build as prettyStream } from "pino-pretty";

/** How logs are written: `pretty` lines for a person, `json` for a collector, `auto` by stderr. */
export type LogFormat = "auto" | "json" | "pretty";

/**
 * Logs on stderr, so stdout stays free for what a command prints: readable lines when stderr is a
 * terminal (or LOG_FORMAT=pretty), JSON lines, one object each, when it is piped (or =json). The
 * pretty stream writes synchronously in this process (no worker thread), so a line logged just
 * before an exit is not lost.
 */
export function createLogger(level: string, name: string, format: LogFormat = "auto"): Logger {
  const pretty = format === "pretty" || (format === "auto" && process.stderr.isTTY);
  if (!pretty) return pino({ name, level }, pino.destination(2));
  return pino(
    { name, level },
    prettyStream({
      destination: 2,
      sync: true,
      colorize: process.stderr.isTTY,
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "pid,hostname",
    }),
  );
}
