import { readFileSync } from "node:fs";
import { RigflowClient } from "../client/index.js";
import { parseInvocation, type CommandName } from "./args.js";
import { cancel, resume, retry, runs, submit, watch, type CommandInvocation } from "./commands.js";
import { approve, pause, recover, reject } from "./control-commands.js";
import type { CliContext } from "./context.js";
import { ApiError, ApiUnreachableError, UsageError } from "./errors.js";
import { exitCodes } from "./exit-codes.js";
import { printable } from "./format.js";
import { helpText } from "./help.js";
import { processIo, type CliIo } from "./io.js";

const commands: Record<CommandName, (ctx: CliContext, args: CommandInvocation) => Promise<number>> = {
  submit,
  watch,
  retry,
  cancel,
  pause,
  resume,
  recover,
  approve,
  reject,
  runs,
};

/** The `rigflow` command (bin/rigflow.mjs): runs `argv` and resolves with the exit code. */
export function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  return runCli(argv, processIo(env));
}

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  try {
    const args = parseInvocation(argv, io.env);
    if (args.command === "help") {
      io.stdout.write(helpText);
      return exitCodes.ok;
    }
    if (args.command === "version") {
      io.stdout.write(`rigflow ${version()}\n`);
      return exitCodes.ok;
    }
    const api = new RigflowClient({ baseUrl: args.url, token: args.token });
    return await commands[args.command]({ api, io, json: args.json }, args);
  } catch (error) {
    return report(io, error);
  }
}

/** Every failure in words on stderr, never a stack trace; the exit code says which kind. */
function report(io: CliIo, error: unknown): number {
  // The API's words as text on one line: no control character of theirs reaches the terminal.
  const say = (text: string) => io.stderr.write(`rigflow: ${printable(text)}\n`);
  if (error instanceof UsageError) {
    io.stderr.write(`rigflow: ${error.message}\n`); // ours, and may hold a usage line
    io.stderr.write("see 'rigflow help' for usage\n");
    return exitCodes.usage;
  }
  if (error instanceof ApiError) {
    const from = error.status === 0 ? "WebSocket" : `HTTP ${error.status}`;
    say(`${error.message} (${error.code}, ${from})`);
    const details = Object.entries(error.details).filter(
      ([, value]) => !error.message.includes(plain(value)),
    );
    if (details.length > 0)
      io.stderr.write(`  details: ${printable(JSON.stringify(Object.fromEntries(details)))}\n`);
    return exitCodes.api;
  }
  if (error instanceof ApiUnreachableError) {
    say(error.message);
    io.stderr.write("is the API running? Point rigflow at it with --url or RIGFLOW_URL.\n");
    return exitCodes.api;
  }
  // A fault of the CLI's own: still words, but say it is one.
  say(`internal error: ${error instanceof Error ? error.message : String(error)}`);
  return exitCodes.api;
}

const plain = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value));

function version(): string {
  const file = new URL("../../package.json", import.meta.url);
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}
