import type { Invocation } from "./args.js";
import type { CliContext } from "./context.js";
import { exitCodes } from "./exit-codes.js";
import { createStyle } from "./format.js";
import { readRunRequest } from "./pipeline-file.js";
import { runsTable } from "./runs-table.js";
import { watchRun } from "./watch.js";
import type { RunListWire, SubmittedWire } from "./wire.js";

export type CommandInvocation = Extract<Invocation, { target: unknown }>;

/** `rigflow submit <file> | --pipeline <id> [--watch]`: starts a run and prints its id. */
export async function submit(ctx: CliContext, args: CommandInvocation): Promise<number> {
  const body = args.target === undefined ? { pipeline_id: args.pipeline } : await readRunRequest(args.target);
  const run: SubmittedWire = await ctx.api.submitRun(body);
  const { stdout } = ctx.io;
  if (ctx.json) stdout.write(`${JSON.stringify(run)}\n`);
  else if (args.watch) stdout.write(`run ${run.run_id} submitted (pipeline ${run.pipeline_id})\n`);
  else stdout.write(`${run.run_id}\n`);
  if (!args.watch) {
    hint(ctx, `follow it with: rigflow watch ${run.run_id}`);
    return exitCodes.ok;
  }
  return watchRun(ctx, run.run_id);
}

/** `rigflow watch <run_id>` */
export function watch(ctx: CliContext, args: CommandInvocation): Promise<number> {
  return watchRun(ctx, args.target ?? "");
}

/** `rigflow retry <run_id> [--watch]`: resumes a failed or cancelled run. */
export function retry(ctx: CliContext, args: CommandInvocation): Promise<number> {
  return goOn(ctx, args, "retry");
}

/** `rigflow resume <run_id> [--watch]`: a paused run goes on. */
export function resume(ctx: CliContext, args: CommandInvocation): Promise<number> {
  return goOn(ctx, args, "resume");
}

/** A retry or a resume, then, with --watch, what it brings. */
async function goOn(ctx: CliContext, args: CommandInvocation, action: "retry" | "resume"): Promise<number> {
  const runId = args.target ?? "";
  // Watching shows what the run does next, from its first event after its last one so far.
  const after = args.watch ? await lastEventId(ctx, runId) : undefined;
  const answer = action === "retry" ? await ctx.api.retryRun(runId) : await ctx.api.resumeRun(runId);
  if (ctx.json) ctx.io.stdout.write(`${JSON.stringify(answer)}\n`);
  else ctx.io.stdout.write(`run ${runId} resumed (${answer.status})\n`);
  if (!args.watch) {
    hint(ctx, `follow it with: rigflow watch ${runId}`);
    return exitCodes.ok;
  }
  return watchRun(ctx, runId, { after });
}

/** `rigflow cancel <run_id>` */
export async function cancel(ctx: CliContext, args: CommandInvocation): Promise<number> {
  const runId = args.target ?? "";
  const answer = await ctx.api.cancelRun(runId);
  if (ctx.json) ctx.io.stdout.write(`${JSON.stringify(answer)}\n`);
  else {
    ctx.io.stdout.write(
      `cancel requested for run ${runId} (it was ${answer.status}); it ends cancelled once its running commands have stopped\n`,
    );
  }
  return exitCodes.ok;
}

/** `rigflow runs [--status] [--pipeline] [--limit] [--cursor]`: a table, newest first. */
export async function runs(ctx: CliContext, args: CommandInvocation): Promise<number> {
  const page: RunListWire = await ctx.api.listRuns({
    limit: String(args.limit),
    ...(args.status && { status: args.status }),
    ...(args.pipeline && { pipeline_id: args.pipeline }),
    ...(args.cursor && { cursor: args.cursor }),
  });
  const { stdout } = ctx.io;
  if (ctx.json) {
    stdout.write(`${JSON.stringify(page)}\n`);
    return exitCodes.ok;
  }
  if (page.runs.length === 0) {
    stdout.write(`no runs${args.status || args.pipeline || args.cursor ? " match" : " yet"}\n`);
    return exitCodes.ok;
  }
  const style = createStyle(stdout.isTTY && !ctx.io.env.NO_COLOR);
  stdout.write(`${runsTable(page.runs, style).join("\n")}\n`);
  if (page.next_cursor !== null) hint(ctx, `more: rigflow runs --cursor ${page.next_cursor}`, true);
  return exitCodes.ok;
}

/** The run's last event_id so far (the events route answers a page at a time), or "0-0". */
async function lastEventId(ctx: CliContext, runId: string): Promise<string> {
  let last = "0-0";
  for (;;) {
    const { events } = await ctx.api.runEvents(runId, last);
    const tail = events.at(-1);
    if (!tail) return last;
    last = tail.event_id;
  }
}

/** A next step for a person at a terminal; kept out of pipes and --json. */
export function hint(ctx: CliContext, text: string, always = false): void {
  if (!ctx.json && (always || ctx.io.stderr.isTTY)) ctx.io.stderr.write(`${text}\n`);
}
