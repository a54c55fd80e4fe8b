import { pino, type Logger } from "pino";

/** JSON logs on stderr, so stdout stays free for what a command prints. */
export function createLogger(level: string, name: string): Logger {
  return pino({ name, level }, pino.destination(2));
}
