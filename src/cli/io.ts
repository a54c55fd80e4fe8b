import process from "node:process";

/** Where output goes; a terminal's size is read afresh each time (it may be resized). */
export interface Output {
  write(text: string): void;
  readonly isTTY: boolean;
  readonly columns: number;
  readonly rows: number;
}

/** The CLI's world: its environment, its outputs, Ctrl-C and the clock. */
export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: Output;
  stderr: Output;
  /** Calls `handler` on Ctrl-C (instead of exiting) until the returned function is called. */
  onInterrupt(handler: () => void): () => void;
  now(): number;
}

function output(stream: NodeJS.WriteStream): Output {
  return {
    write: (text) => void stream.write(text),
    get isTTY() {
      return stream.isTTY === true;
    },
    get columns() {
      return stream.columns || 80;
    },
    get rows() {
      return stream.rows || 24;
    },
  };
}

/** The real process's streams and signals; the environment is handed in by the bin. */
export function processIo(env: Record<string, string | undefined>): CliIo {
  return {
    env,
    stdout: output(process.stdout),
    stderr: output(process.stderr),
    onInterrupt(handler) {
      process.on("SIGINT", handler);
      return () => void process.off("SIGINT", handler);
    },
    now: () => Date.now(),
  };
}
