import { parseArgs } from "node:util";
import { UsageError } from "./errors.js";
import { usageLines } from "./help.js";
import { runFilters, type RunFilter } from "./wire.js";

export type CommandName =
  "submit" | "watch" | "retry" | "cancel" | "pause" | "resume" | "recover" | "approve" | "reject" | "runs";

export type Invocation =
  | { command: "help" }
  | { command: "version" }
  | {
      command: CommandName;
      /** The file (submit) or the run id (every other command but runs); absent for runs. */
      target: string | undefined;
      url: string;
      token: string | undefined;
      json: boolean;
      watch: boolean;
      pipeline: string | undefined;
      status: RunFilter | undefined;
      limit: number;
      cursor: string | undefined;
      /** pause: stop running commands now, rather than let them finish. */
      now: boolean;
      /** recover: the held node, what to do with it, and (complete) its outputs. */
      recovery:
        | { nodeId: string; action: "retry" | "skip" | "complete"; outputs: Record<string, unknown> }
        | undefined;
      /** approve, reject: the waiting approval node; approve: its outputs; reject: why, if said. */
      decision: { nodeId: string; outputs: Record<string, unknown>; reason: string | undefined } | undefined;
    };

const options = {
  url: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean" },
  watch: { type: "boolean", short: "w" },
  pipeline: { type: "string", short: "p" },
  status: { type: "string", short: "s" },
  limit: { type: "string", short: "n" },
  cursor: { type: "string" },
  now: { type: "boolean" },
  outputs: { type: "string" },
  output: { type: "string", multiple: true },
  reason: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
} as const;

/** What each command takes beyond --url, --token, --json and --help, and how many positionals. */
const commands: Record<CommandName, { options: string[]; positionals: [min: number, max: number] }> = {
  submit: { options: ["watch", "pipeline"], positionals: [0, 1] },
  watch: { options: [], positionals: [1, 1] },
  retry: { options: ["watch"], positionals: [1, 1] },
  cancel: { options: [], positionals: [1, 1] },
  pause: { options: ["now"], positionals: [1, 1] },
  resume: { options: ["watch"], positionals: [1, 1] },
  recover: { options: ["outputs"], positionals: [3, 3] },
  approve: { options: ["output", "outputs"], positionals: [2, 2] },
  reject: { options: ["reason"], positionals: [2, 2] },
  runs: { options: ["status", "pipeline", "limit", "cursor"], positionals: [0, 0] },
};
const everyCommand = new Set(["url", "token", "json", "help", "version"]);

const idPattern = /^[A-Za-z0-9_-]{1,64}$/;
export const defaultUrl = "http://localhost:8000";

/** Reads the command line (and RIGFLOW_URL, RIGFLOW_TOKEN, API_TOKEN); anything wrong is a UsageError. */
export function parseInvocation(argv: string[], env: Record<string, string | undefined>): Invocation {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    // node's wording, without its advice on positionals that start with '-'.
    throw new UsageError((error as Error).message.replace(/\. To specify a positional.*$/s, ""));
  }
  const { values, positionals } = parsed;
  if (values.version) return { command: "version" };
  const [name, ...rest] = positionals;
  if (values.help || name === "help") return { command: "help" };
  if (name === undefined)
    throw new UsageError(
      "say what to do: submit, watch, retry, cancel, pause, resume, recover, approve, reject or runs",
    );
  if (!isCommand(name)) throw new UsageError(`unknown command '${name}'`);

  const spec = commands[name];
  for (const option of Object.keys(values)) {
    if (!everyCommand.has(option) && !spec.options.includes(option)) {
      throw new UsageError(`${name} takes no --${option}\nusage: ${usageLines[name]}`);
    }
  }
  const [min, max] = spec.positionals;
  if (rest.length > max)
    throw new UsageError(`too many arguments: ${rest.join(" ")}\nusage: ${usageLines[name]}`);
  if (rest.length < min) {
    throw new UsageError(`${name} needs ${positionalsNeeded(name)}\nusage: ${usageLines[name]}`);
  }
  const target = rest[0];
  if (name === "submit" && (target === undefined) === (values.pipeline === undefined)) {
    throw new UsageError(
      `submit takes a pipeline file or --pipeline <id>, one of them\nusage: ${usageLines.submit}`,
    );
  }
  if (name !== "submit" && target !== undefined && !idPattern.test(target)) {
    throw new UsageError(`'${target}' is not a run id (1-64 letters, digits, '_' or '-')`);
  }
  if (values.pipeline !== undefined && !idPattern.test(values.pipeline)) {
    throw new UsageError(
      `--pipeline: '${values.pipeline}' is not a pipeline id (1-64 letters, digits, '_' or '-')`,
    );
  }
  return {
    command: name,
    target,
    url: checkUrl(values.url ?? (env.RIGFLOW_URL || defaultUrl), values.url === undefined),
    token: values.token ?? (env.RIGFLOW_TOKEN || env.API_TOKEN || undefined),
    json: values.json ?? false,
    watch: values.watch ?? false,
    pipeline: values.pipeline,
    status: checkStatus(values.status),
    limit: checkLimit(values.limit),
    cursor: checkCursor(values.cursor),
    now: values.now ?? false,
    recovery: name === "recover" ? checkRecovery(rest[1] ?? "", rest[2] ?? "", values.outputs) : undefined,
    decision:
      name === "approve" || name === "reject"
        ? checkDecision(rest[1] ?? "", values.output ?? [], values.outputs, values.reason)
        : undefined,
  };
}

function positionalsNeeded(name: CommandName): string {
  if (name === "recover") return "a run id, a node id and an action";
  if (name === "approve" || name === "reject") return "a run id and a node id";
  return "a run id";
}

const isCommand = (name: string): name is CommandName => Object.hasOwn(commands, name);

function checkUrl(url: string, fromEnv: boolean): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  if (parsed?.protocol !== "http:" && parsed?.protocol !== "https:") {
    const source = fromEnv ? "RIGFLOW_URL" : "--url";
    throw new UsageError(`${source} must be an http(s) URL such as ${defaultUrl}, not '${url}'`);
  }
  return url;
}

function checkStatus(status: string | undefined): RunFilter | undefined {
  if (status === undefined) return undefined;
  const known = runFilters.find((s) => s === status);
  if (!known) throw new UsageError(`--status must be one of ${runFilters.join(", ")}, not '${status}'`);
  return known;
}

function checkNodeId(nodeId: string): string {
  if (!idPattern.test(nodeId))
    throw new UsageError(`'${nodeId}' is not a node id (1-64 letters, digits, '_' or '-')`);
  return nodeId;
}

function checkRecovery(nodeId: string, action: string, outputs: string | undefined) {
  checkNodeId(nodeId);
  if (action !== "retry" && action !== "skip" && action !== "complete") {
    throw new UsageError(
      `the action must be retry, skip or complete, not '${action}'\nusage: ${usageLines.recover}`,
    );
  }
  if (outputs !== undefined && action !== "complete")
    throw new UsageError("--outputs goes with complete only");
  return { nodeId, action, outputs: outputs === undefined ? {} : parseOutputsJson(outputs) } as const;
}

/** `--outputs '{"position": 42}'` (recover complete, approve): a JSON object. */
function parseOutputsJson(outputs: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(outputs);
  } catch {
    parsed = null;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new UsageError(`--outputs must be a JSON object such as '{"position": 42}', not '${outputs}'`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * approve's outputs, from `--output name=value` (each value JSON when it parses as JSON, else the
 * text itself: `position=42` is a number, `plate_id=P-17` a string) and from `--outputs JSON`, as
 * recover takes them; the API checks them against what the approval declares.
 */
function checkDecision(
  nodeId: string,
  pairs: string[],
  outputsJson: string | undefined,
  reason: string | undefined,
) {
  const entries = Object.entries(outputsJson === undefined ? {} : parseOutputsJson(outputsJson));
  for (const pair of pairs) {
    const [name, value] = splitPair(pair);
    // Said twice, one value would silently win: a person meant one of them.
    if (entries.some(([given]) => given === name)) throw new UsageError(`output '${name}' is given twice`);
    entries.push([name, jsonOrText(value)]);
  }
  // fromEntries rather than assignment: an output named __proto__ stays an output.
  return { nodeId: checkNodeId(nodeId), outputs: Object.fromEntries(entries), reason };
}

function splitPair(pair: string): [name: string, value: string] {
  const at = pair.indexOf("=");
  if (at <= 0) {
    throw new UsageError(
      `--output takes name=value, such as position=42, not '${pair}'\nusage: ${usageLines.approve}`,
    );
  }
  return [pair.slice(0, at), pair.slice(at + 1)];
}

function jsonOrText(value: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

function checkLimit(limit: string | undefined): number {
  if (limit === undefined) return 20;
  const n = Number(limit);
  if (!/^\d+$/.test(limit) || n < 1 || n > 200) {
    throw new UsageError(`--limit must be a whole number from 1 to 200, not '${limit}'`);
  }
  return n;
}

function checkCursor(cursor: string | undefined): string | undefined {
  if (cursor !== undefined && !/^\d{1,15}$/.test(cursor)) {
    throw new UsageError(`--cursor must be the cursor an earlier page printed, not '${cursor}'`);
  }
  return cursor;
}
