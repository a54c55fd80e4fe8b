/**
 * The child's side of bench/child.ts: read the config, say ready, answer requests, and close what
 * was opened on SIGTERM or when the bench goes away (its IPC channel closes), so nothing outlives it.
 */
import type { ChildMessage } from "./child.js";

export interface ChildBody {
  ready: Record<string, unknown>;
  handle?: (request: Record<string, unknown>) => Promise<unknown>;
  close(): Promise<void>;
}

export function childConfig<T>(): T {
  const text = process.argv[2];
  if (text === undefined) throw new Error("a bench child takes its config (JSON) as its one argument");
  return JSON.parse(text) as T;
}

/** Runs `start` and serves what it returns; a failure to start exits 1 with the reason on stderr. */
export function runChild(name: string, start: () => Promise<ChildBody>): void {
  const send = (message: ChildMessage) => process.send?.(message);
  start().then(
    (body) => {
      let closing: Promise<void> | undefined;
      const close = () => {
        closing ??= body.close().then(
          () => process.exit(0),
          (error: unknown) => {
            console.error(`${name}: closing failed:`, error);
            process.exit(1);
          },
        );
      };
      process.once("SIGTERM", close);
      process.once("disconnect", close);
      process.on("message", (message: { id: number; body: Record<string, unknown> }) => {
        const handled = body.handle?.(message.body) ?? Promise.reject(new Error("no requests served"));
        handled.then(
          (result) => send({ id: message.id, result }),
          (error: unknown) =>
            send({ id: message.id, error: error instanceof Error ? error.message : String(error) }),
        );
      });
      send({ ready: body.ready });
    },
    (error: unknown) => {
      console.error(`${name}: start failed:`, error);
      process.exit(1);
    },
  );
}
