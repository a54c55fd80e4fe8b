import type { CommandInvocation } from "./commands.js";
import { hint } from "./commands.js";
import type { CliContext } from "./context.js";
import { exitCodes } from "./exit-codes.js";
import type { DecisionWire } from "./wire.js";

/** `rigflow pause <run_id> [--now]`: deferred by default, immediate with --now. */
export async function pause(ctx: CliContext, args: CommandInvocation): Promise<number> {
  const runId = args.target ?? "";
  const mode = args.now ? "immediate" : "deferred";
  const answer = await ctx.api.pauseRun(runId, { mode });
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
  const answer = await ctx.api.recoverNode(runId, nodeId, body);
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

/** `rigflow approve <run_id> <node_id> [--output name=value ...]`: a waiting approval completes. */
export async function approve(ctx: CliContext, args: CommandInvocation): Promise<number> {
  const runId = args.target ?? "";
  const { nodeId, outputs } = args.decision ?? { nodeId: "", outputs: {} };
  const answer = await decide(ctx, runId, nodeId, "approve", { outputs });
  if (!ctx.json) {
    ctx.io.stdout.write(`node ${nodeId} of run ${runId} is approved; the run is ${answer.status}\n`);
  }
  hint(ctx, `follow it with: rigflow watch ${runId}`);
  return exitCodes.ok;
}

/** `rigflow reject <run_id> <node_id> [--reason text]`: a waiting approval fails REJECTED, or is held. */
export async function reject(ctx: CliContext, args: CommandInvocation): Promise<number> {
  const runId = args.target ?? "";
  const { nodeId, reason } = args.decision ?? { nodeId: "", reason: undefined };
  const answer = await decide(ctx, runId, nodeId, "reject", reason === undefined ? {} : { reason });
  if (!ctx.json) {
    ctx.io.stdout.write(
      `node ${nodeId} of run ${runId} is rejected and ${answer.node_status}; ${runAfterRejection(answer)}\n`,
    );
  }
  // Held (its on_failure is hold): a person decides for it as for any held node.
  if (answer.node_status === "held")
    hint(ctx, `decide with: rigflow recover ${runId} ${nodeId} retry|skip|complete`);
  else hint(ctx, `follow it with: rigflow watch ${runId}`);
  return exitCodes.ok;
}

/** Sends a decision on a waiting approval; with --json, prints the API's answer as it is. */
async function decide(
  ctx: CliContext,
  runId: string,
  nodeId: string,
  decision: "approve" | "reject",
  body: Record<string, unknown>,
): Promise<DecisionWire> {
  const answer: DecisionWire =
    decision === "approve"
      ? await ctx.api.approveNode(runId, nodeId, body)
      : await ctx.api.rejectNode(runId, nodeId, body.reason as string | undefined);
  if (ctx.json) ctx.io.stdout.write(`${JSON.stringify(answer)}\n`);
  return answer;
}

/**
 * What a rejection does to the run: a failed node fails it, a held one holds it, once its running
 * nodes have stopped; until then the API still says what it was.
 */
function runAfterRejection(answer: DecisionWire): string {
  const outcome = answer.node_status === "held" ? "held" : "failed";
  if (answer.status === outcome) return `the run is ${outcome}`;
  const verb = outcome === "held" ? "holds" : "fails";
  return `the run ${verb} once its running nodes have stopped (it was ${answer.status})`;
}
