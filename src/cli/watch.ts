import type { CliContext } from "./context.js";
import { createDisplay, type Display, type DisplayMode } from "./displays.js";
import { RunEventSocket } from "./event-socket.js";
import { exitCodes } from "./exit-codes.js";
import { count, printable, seconds } from "./format.js";
import { applyEvent, modelFromRun, type RunModel } from "./run-model.js";
import {
  endsRun,
  hasEnded,
  type FullRunWire,
  type NodePageWire,
  type NodeWire,
  type RunWire,
} from "./wire.js";

export interface WatchOptions {
  /** Shows the run's events after this event_id; "0-0" (the default) shows its whole history. */
  after?: string;
}

/**
 * Follows a run until it ends: its snapshot first (the node list), then its events over /ws from
 * `after`, each applied to the display. Exits 0 if the run completed, 1 if it failed or was
 * cancelled, 130 if Ctrl-C stopped the watch (the run goes on).
 */
export async function watchRun(ctx: CliContext, runId: string, options: WatchOptions = {}): Promise<number> {
  const model = modelFromRun(await fetchRun(ctx, runId));
  const display = createDisplay(displayMode(ctx), ctx.io);
  let outcome: "ended" | "interrupted";
  try {
    outcome = await follow(ctx, model, display, options.after ?? "0-0");
  } catch (error) {
    display.end(model);
    throw error;
  }
  if (outcome === "interrupted") {
    display.end(model);
    ctx.io.stderr.write(
      `\nStopped watching. Run ${runId} goes on: 'rigflow watch ${runId}' follows it again, ` +
        `'rigflow cancel ${runId}' stops it.\n`,
    );
    return exitCodes.interrupted;
  }
  // The run's own record has the last word (nodes skipped after a failure show no event), unless
  // a retry has set it going again since.
  const final = await fetchRun(ctx, runId)
    .then((run) => (hasEnded(run.status) ? modelFromRun(run, model.pipelineName) : model))
    .catch(() => model);
  display.end(final);
  return report(ctx, final);
}

/**
 * The run with every node: a run of more than 1,000 nodes answers without them, and they are read
 * by pages of 1,000 (each a bounded read for the server).
 */
export async function fetchRun(ctx: CliContext, runId: string): Promise<FullRunWire> {
  const run: RunWire = await ctx.api.getRun(runId);
  if (run.nodes !== null) return { ...run, nodes: run.nodes };
  const nodes: Record<string, NodeWire> = {};
  let cursor: string | null = "";
  while (cursor !== null) {
    const page = (await ctx.api.runNodes(runId, {
      limit: "1000",
      ...(cursor !== "" && { cursor }),
    })) as NodePageWire;
    for (const node of page.nodes) nodes[node.node_id] = node;
    cursor = page.next_cursor;
  }
  return { ...run, nodes };
}

export function displayMode(ctx: CliContext): DisplayMode {
  if (ctx.json) return "json";
  return ctx.io.stdout.isTTY && ctx.io.env.TERM !== "dumb" ? "tty" : "plain";
}

function follow(ctx: CliContext, model: RunModel, display: Display, after: string) {
  return new Promise<"ended" | "interrupted">((resolve, reject) => {
    let live = false;
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      stopListening();
      socket.close();
      finish();
    };
    const socket = new RunEventSocket(
      ctx.api,
      model.runId,
      {
        event(event) {
          applyEvent(model, event);
          display.event(event, model);
          // A run-ending event in the replay may be followed by a resume: only a live one counts.
          if (live && endsRun(event)) settle(() => resolve("ended"));
        },
        live() {
          live = true;
          display.live(model);
          if (hasEnded(model.status)) settle(() => resolve("ended"));
        },
        lost(reason) {
          live = false;
          display.connectionLost(reason, model);
        },
        fatal: (error) => settle(() => reject(error)),
      },
      { after },
    );
    const stopListening = ctx.io.onInterrupt(() => settle(() => resolve("interrupted")));
    socket.open();
  });
}

/** The run's outcome in one line: on stdout when it completed, on stderr (with what to do) if not. */
function report(ctx: CliContext, run: RunModel): number {
  const { stdout, stderr } = ctx.io;
  const took = run.executionTime === null ? "" : ` in ${seconds(run.executionTime)}`;
  if (run.status === "completed") {
    const done = [...run.nodes.values()].filter((node) => node.status === "completed").length;
    if (displayMode(ctx) === "plain")
      stdout.write(`run ${run.runId} completed${took}: ${count(done, "node")}\n`);
    return exitCodes.ok;
  }
  const error = run.error;
  const where =
    error?.nodeId && !error.message.includes(`'${error.nodeId}'`) ? ` at node ${error.nodeId}` : "";
  const why = error ? `: ${error.code}: ${error.message}` : "";
  const verb = run.status === "cancelled" ? "was cancelled" : run.status;
  stderr.write(`${printable(`run ${run.runId} ${verb}${where}${took}${why}`)}\n`);
  stderr.write(`resume it with: rigflow retry ${run.runId} --watch\n`);
  return exitCodes.runNotCompleted;
}
