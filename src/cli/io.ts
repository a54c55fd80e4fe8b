import process from "node:process";
import { exitCodes } from "./exit-codes.js";

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

/**
 * A reader that went away (`rigflow watch … | head -3`) makes the next write fail with EPIPE, as
 * an 'error' event on the stream: with nobody left to read, the CLI ends quietly, with exit code 0
 * (as `head` asked for no more), instead of dying on an unhandled error with a stack trace.
 */
function exitWhenReaderGoes(stream: NodeJS.WriteStream): void {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE" || error.code === "ERR_STREAM_DESTROYED") process.exit(exitCodes.ok);
    // Any other failure to write (a full disk, say): in words where that still can be, no stack.
    if (stream !== process.stderr) process.stderr.write(`rigflow: cannot write output: ${error.message}\n`);
    process.exit(exitCodes.api);
  });
}

let guarded = false;

/** The real process's streams and signals; the environment is handed in by the bin. */
export function processIo(env: Record<string, string | undefined>): CliIo {
  if (!guarded) {
    guarded = true;
    exitWhenReaderGoes(process.stdout);
    exitWhenReaderGoes(process.stderr);
  }
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
