import { percent, printable, progressBar, seconds, truncate, type Style } from "./format.js";
import type { NodeModel, RunModel } from "./run-model.js";
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
  // What a person can do now, as the command that does it: a line each, below the nodes.
  const actions = nextActions(model, nodes).slice(0, Math.max(0, Math.min(3, options.maxLines - 3)));
  const shown = pickNodes(nodes, Math.max(2, options.maxLines - 1 - actions.length));
  const widths = {
    id: Math.max(...shown.map((n) => n.nodeId.length), 0),
    call: Math.max(...shown.map((n) => `${n.functionId}@${n.deviceId}`.length), 0),
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
  for (const action of actions) lines.push(fit([[`  ${action}`, options.style.yellow]], options));
  return lines;
}

/** The commands that move a resting run on: resume a paused one, decide for each held node. */
function nextActions(model: RunModel, nodes: readonly NodeModel[]): string[] {
  if (model.status === "paused") return [`paused: go on with rigflow resume ${model.runId}`];
  return nodes
    .filter((node) => node.status === "held")
    .map(
      (node) => `${node.nodeId} is held: rigflow recover ${model.runId} ${node.nodeId} retry|skip|complete`,
    );
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
    [`${node.nodeId.padEnd(widths.id)}  ${`${node.functionId}@${node.deviceId}`.padEnd(widths.call)}  `],
    [`${attemptText(node).padEnd(widths.attempt)}  `, style.dim],
  ];
  const bar = (fraction: number) => `${progressBar(fraction, barWidth)} ${percent(fraction).padStart(4)}`;
  if (node.status === "running") pieces.push([bar(node.progress ?? 0), style.cyan]);
  else if (node.status === "completed") pieces.push([bar(1), style.green]);
  else pieces.push([statusWord(node, options.now).padEnd(middleWidth), colour]);
  const duration =
    node.status === "running" && node.startedAt !== null
      ? Math.max(0, options.now - node.startedAt) / 1000
      : node.status === "completed" || node.status === "failed"
        ? node.executionTime
        : null;
  pieces.push([`  ${(duration === null ? "" : seconds(duration)).padStart(8)}`]);
  if (node.status === "running" && node.message) pieces.push([`  ${node.message}`, style.dim]);
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

const attemptText = (node: NodeModel) => (node.attempt > 0 ? `#${node.attempt}` : "");

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
