import { percent, printable, progressBar, seconds, truncate, type Style } from "./format.js";
import { approveCommand, rejectCommand } from "./approval-commands.js";
import { callText, type NodeModel, type RunModel } from "./run-model.js";
import type { NodeStatus, RunStatus } from "./wire.js";

export interface FrameOptions {
  now: number;
  /** Terminal width: no line is longer, so none wraps and the redraw stays in place. */
  columns: number;
  /** Most lines the frame may take (the terminal's height, less a line); at least 3. */
  maxLines: number;
  /** Counts up once a tick, to turn the spinner. */
  tick: number;
  /** Why the live connection is down, while it is. */
  connectionLost: string | null;
  style: Style;
}

const spinner = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const barWidth = 10;
/** The middle column: a bar and a percentage, or a word such as "pending". */
const middleWidth = barWidth + 5;

/** A segment of a line, coloured after the line is cut to the terminal's width. */
type Piece = [text: string, colour?: (text: string) => string];

/** The whole display: a run status line, then one line per node (the less telling ones folded). */
export function frameLines(model: RunModel, options: FrameOptions): string[] {
  const nodes = [...model.nodes.values()];
  // What a person can do now, as the command that does it, below the nodes: whole commands only.
  const actions = wholeActions(
    nextActions(model, nodes).map((action) => actionLines(action, options.columns)),
    Math.max(0, Math.min(maxActionLines, options.maxLines - 3)),
  );
  const shown = pickNodes(nodes, Math.max(2, options.maxLines - 1 - actions.length));
  const widths = {
    id: Math.max(...shown.map((n) => n.nodeId.length), 0),
    call: Math.max(...shown.map((n) => callText(n).length), 0),
    attempt: Math.max(...shown.map((n) => attemptText(n).length), 0),
  };
  const lines = [fit(header(model, nodes, options), options)];
  for (const node of shown) lines.push(fit(nodeLine(node, widths, options), options));
  const hidden = nodes.length - shown.length;
  if (hidden > 0)
    lines.push(
      fit(
        [[`  … ${hidden} more: ${counts(nodes.filter((n) => !shown.includes(n)))}`, options.style.dim]],
        options,
      ),
    );
  for (const action of actions) lines.push(fit([[action, options.style.yellow]], options));
  return lines;
}

/** Most lines the commands below the nodes take, so that the nodes keep most of the screen. */
const maxActionLines = 6;

/** A command a person may run now, and the words that say what it is for. */
interface Action {
  lead: string;
  command: string;
}

/**
 * The commands that move a resting run on: resume a paused one, decide for each held node, approve
 * or reject each waiting approval.
 */
function nextActions(model: RunModel, nodes: readonly NodeModel[]): Action[] {
  if (model.status === "paused")
    return [{ lead: "paused: go on with ", command: `rigflow resume ${model.runId}` }];
  return nodes.flatMap((node): Action[] => {
    if (node.status === "held") {
      const command = `rigflow recover ${model.runId} ${node.nodeId} retry|skip|complete`;
      return [{ lead: `${node.nodeId} is held: `, command }];
    }
    if (node.status === "waiting") {
      const approve = approveCommand(model.runId, node.nodeId, node.approval?.outputs ?? {});
      return [
        { lead: `${node.nodeId} is waiting: `, command: approve },
        { lead: "or reject it with: ", command: rejectCommand(model.runId, node.nodeId) },
      ];
    }
    return [];
  });
}

/**
 * An action as lines no wider than the terminal: a command too long for one is folded between its
 * words, each line but the last ending in ` \`, so that a copy of it still runs in a shell (a
 * command cut short with an ellipsis could not be read, nor run).
 */
function actionLines(action: Action, columns: number): string[] {
  const room = Math.max(10, columns - 1);
  const whole = `  ${action.lead}${action.command}`;
  if ([...whole].length <= room) return [whole];
  const lines: string[] = [];
  let line = `  ${action.lead}`;
  let empty = true; // no word of the command on this line yet
  for (const word of commandWords(action.command)) {
    const longer = empty ? `${line}${word}` : `${line} ${word}`;
    if (!empty && [...longer].length + 2 > room) {
      lines.push(`${line} \\`);
      line = `      ${word}`;
    } else line = longer;
    empty = false;
  }
  lines.push(line);
  return lines;
}

/** A command's words, an option kept with its value (`--output position=<number>`) so a fold reads well. */
function commandWords(command: string): string[] {
  const words: string[] = [];
  for (const word of command.split(" ")) {
    const last = words.at(-1);
    if (last?.startsWith("--") && !last.includes(" ")) words[words.length - 1] = `${last} ${word}`;
    else words.push(word);
  }
  return words;
}

/** The actions' lines, as many whole actions as `room` lines hold, in order. */
function wholeActions(actions: string[][], room: number): string[] {
  const lines: string[] = [];
  for (const action of actions) {
    if (lines.length + action.length > room) break;
    lines.push(...action);
  }
  return lines;
}

/** What redraws `lines` over the previous frame of `previousCount` lines, cursor left below it. */
export function redraw(previousCount: number, lines: string[]): string {
  const up = previousCount > 0 ? `\x1b[${previousCount}A` : "";
  return `${up}${lines.map((line) => `\r\x1b[2K${line}\n`).join("")}\x1b[J`;
}

function header(model: RunModel, nodes: NodeModel[], options: FrameOptions): Piece[] {
  const { style } = options;
  const elapsed =
    model.executionTime ??
    (model.startedAt === null ? null : Math.max(0, options.now - model.startedAt) / 1000);
  const done = nodes.filter((n) => n.status === "completed").length;
  const pieces: Piece[] = [
    [`${runSymbol(model.status, options.tick)} `, runColour(model.status, style)],
    [`run ${model.runId}`, style.bold],
    [` · ${model.pipelineName ?? model.pipelineId} · `],
    [model.status, runColour(model.status, style)],
    [`${elapsed === null ? "" : ` ${seconds(elapsed)}`} · ${done}/${nodes.length} nodes done`],
  ];
  if (options.connectionLost !== null) {
    pieces.push([` · connection lost (${options.connectionLost}), reconnecting…`, style.yellow]);
  }
  return pieces;
}

function nodeLine(
  node: NodeModel,
  widths: { id: number; call: number; attempt: number },
  options: FrameOptions,
) {
  const { style } = options;
  const colour = nodeColour(node.status, style);
  const pieces: Piece[] = [
    [`  ${nodeSymbol(node, options.tick)} `, colour],
    [`${node.nodeId.padEnd(widths.id)}  ${callText(node).padEnd(widths.call)}  `],
    [`${attemptText(node).padEnd(widths.attempt)}  `, style.dim],
  ];
  const bar = (fraction: number) => `${progressBar(fraction, barWidth)} ${percent(fraction).padStart(4)}`;
  if (node.status === "running") pieces.push([bar(node.progress ?? 0), style.cyan]);
  else if (node.status === "completed") pieces.push([bar(1), style.green]);
  else pieces.push([statusWord(node, options.now).padEnd(middleWidth), colour]);
  const duration =
    (node.status === "running" || node.status === "waiting") && node.startedAt !== null
      ? Math.max(0, options.now - node.startedAt) / 1000
      : node.status === "completed" || node.status === "failed"
        ? node.executionTime
        : null;
  pieces.push([`  ${(duration === null ? "" : seconds(duration)).padStart(8)}`]);
  if (node.status === "running" && node.message) pieces.push([`  ${node.message}`, style.dim]);
  // What the approval asks of a person; the commands that answer it are below the nodes.
  if (node.status === "waiting" && node.approval?.message)
    pieces.push([`  ${node.approval.message}`, style.yellow]);
  if (node.error !== null && node.status !== "running" && node.status !== "completed") {
    pieces.push([`  ${node.error}`, node.status === "failed" ? style.red : style.yellow]);
  }
  return pieces;
}

function statusWord(node: NodeModel, now: number): string {
  if (node.status === "queued" && node.retryAt !== null) {
    const wait = (node.retryAt - now) / 1000;
    return wait > 0 ? `retry in ${seconds(wait)}` : "retrying";
  }
  return node.status;
}

/** The attempt under way or last made; an approval makes none (a person decides it once). */
const attemptText = (node: NodeModel) =>
  node.attempt > 0 && node.approval === null ? `#${node.attempt}` : "";

function nodeSymbol(node: NodeModel, tick: number): string {
  if (node.status === "queued" && node.retryAt !== null) return "↻";
  const symbols: Record<NodeStatus, string> = {
    pending: "·",
    queued: "○",
    running: spinner[tick % spinner.length] ?? "*",
    completed: "✓",
    failed: "✗",
    cancelled: "⊘",
    held: "✋",
    skipped: "↷",
    waiting: "?",
  };
  return symbols[node.status];
}

function runSymbol(status: RunStatus, tick: number): string {
  const symbols: Record<RunStatus, string> = {
    queued: "○",
    running: spinner[tick % spinner.length] ?? "*",
    paused: "‖",
    held: "✋",
    completed: "✓",
    failed: "✗",
    cancelled: "⊘",
  };
  return symbols[status];
}

function nodeColour(status: NodeStatus, style: Style): (text: string) => string {
  if (status === "completed") return style.green;
  if (status === "failed") return style.red;
  if (status === "cancelled") return style.yellow;
  if (status === "running") return style.cyan;
  if (status === "held" || status === "waiting") return style.yellow;
  return style.dim;
}

function runColour(status: RunStatus, style: Style): (text: string) => string {
  if (status === "completed") return style.green;
  if (status === "failed") return style.red;
  if (status === "cancelled" || status === "paused" || status === "held") return style.yellow;
  return style.cyan;
}

/** The nodes worth a line when not all fit: running and failed first, then waiting, then done. */
function pickNodes(nodes: NodeModel[], room: number): NodeModel[] {
  if (nodes.length <= room) return nodes;
  const rank: Record<NodeStatus, number> = {
    running: 0,
    held: 0,
    waiting: 0,
    failed: 1,
    cancelled: 2,
    queued: 3,
    pending: 4,
    completed: 5,
    skipped: 5,
  };
  const keep = new Set(
    [...nodes].sort((a, b) => rank[a.status] - rank[b.status]).slice(0, Math.max(1, room - 1)),
  );
  return nodes.filter((node) => keep.has(node));
}

function counts(nodes: NodeModel[]): string {
  const by = new Map<string, number>();
  for (const node of nodes) by.set(node.status, (by.get(node.status) ?? 0) + 1);
  return [...by].map(([status, n]) => `${n} ${status}`).join(", ");
}

/** Joins the pieces, cut to the terminal's width first so that colours never count as width. */
function fit(pieces: Piece[], options: FrameOptions): string {
  // No trailing blanks: padding for columns that are empty on this line.
  const trimmed = [...pieces];
  while (trimmed.length > 0 && (trimmed.at(-1)?.[0] ?? "").trim() === "") trimmed.pop();
  const last = trimmed.at(-1);
  if (last) trimmed[trimmed.length - 1] = [last[0].trimEnd(), last[1]];
  let room = Math.max(10, options.columns - 1);
  let line = "";
  for (const [text, colour] of trimmed) {
    if (room <= 0) break;
    // Device and server words as text only: a newline or an escape would wreck the redraw.
    const cut = truncate(printable(text), room);
    room -= [...cut].length;
    line += colour ? colour(cut) : cut;
  }
  return line;
}
