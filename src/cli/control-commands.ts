import type { CommandInvocation } from "./commands.js";
import { hint } from "./commands.js";
import { runPath, type CliContext } from "./context.js";
import { exitCodes } from "./exit-codes.js";
import type { RunStatus } from "./wire.js";

/** `rigflow pause <run_id> [--now]`: deferred by default, immediate with --now. */
export async function pause(ctx: CliContext, args: CommandInvocation): Promise<number> {
  const runId = args.target ?? "";
  const mode = args.now ? "immediate" : "deferred";
  const answer = await ctx.api.post<{ run_id: string; status: RunStatus }>(`${runPath(runId)}/pause`, {
    mode,
  });
  if (ctx.json) ctx.io.stdout.write(`${JSON.stringify(answer)}\n`);
  else if (answer.status === "paused") ctx.io.stdout.write(`run ${runId} is paused\n`);
  else {
    const how = args.now ? "its running commands are being stopped" : "its running nodes finish first";
    ctx.io.stdout.write(`pause requested for run ${runId}: no node starts now; ${how}, then it is paused\n`);
  }
  hint(ctx, `go on with: rigflow resume ${runId}`);
  return exitCodes.ok;
}
