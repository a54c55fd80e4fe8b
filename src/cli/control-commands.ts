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

/** `rigflow recover <run_id> <node_id> retry|skip|complete [--outputs JSON]`: a person's decision on a held node. */
export async function recover(ctx: CliContext, args: CommandInvocation): Promise<number> {
  const runId = args.target ?? "";
  const { nodeId, action, outputs } = args.recovery ?? { nodeId: "", action: "retry", outputs: {} };
  const body = action === "complete" ? { action, outputs } : { action };
  const answer = await ctx.api.post<{ run_id: string; status: RunStatus }>(
    `${runPath(runId)}/nodes/${encodeURIComponent(nodeId)}/recover`,
    body,
  );
  if (ctx.json) ctx.io.stdout.write(`${JSON.stringify(answer)}\n`);
  else {
    const done = { retry: "runs again", skip: "is skipped", complete: "is completed with your outputs" }[
      action
    ];
    ctx.io.stdout.write(`node ${nodeId} of run ${runId} ${done}; the run is ${answer.status}\n`);
  }
  hint(ctx, `follow it with: rigflow watch ${runId}`);
  return exitCodes.ok;
}
