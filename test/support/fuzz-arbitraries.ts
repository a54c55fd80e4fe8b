// Generators for the property-based fuzzing of the API (test/api/fuzz-*.test.ts): requests to every
// route and messages of every WebSocket kind, from valid to hostile. A generated value holds
// placeholders for what only exists at run time (`$run:3` is the fourth run id the fuzz has seen,
// modulo how many it has seen), so that counterexamples print as plain data.
import fc from "fast-check";

/**
 * The seed of this file's properties: FUZZ_SEED if set, else a fresh one. Printed, so that a
 * failure seen in CI generates the same cases again (fast-check prints the counterexample too; the
 * ids it names are filled in at run time, so they differ from run to run).
 */
export function fuzzSeed(file: string): number {
  const given = process.env.FUZZ_SEED;
  const seed = given ? Number(given) : Math.floor(Math.random() * 0x7fffffff);
  if (!Number.isSafeInteger(seed)) throw new Error(`FUZZ_SEED must be an integer, not '${given}'`);
  console.log(`fuzz seed: ${seed} (rerun with FUZZ_SEED=${seed} npx vitest run ${file})`);
  return seed;
}

/**
 * A fuzz file's seed (printed), its cases per property (`budget`, or FUZZ_RUNS), and a property's
 * time limit: cases take about 0.1 s each, so far more only if something hangs.
 */
export function fuzzBudget(file: string, budget: number) {
  const casesPerProperty = fuzzRuns(budget);
  return {
    seed: fuzzSeed(file),
    casesPerProperty,
    propertyTimeoutMs: Math.max(120_000, casesPerProperty * 1000),
  };
}

/**
 * Cases per property: the file's fixed budget, which the suite runs. FUZZ_RUNS overrides it for a
 * longer hunt by hand (`FUZZ_RUNS=2000 npx vitest run test/api/fuzz-routes.test.ts`).
 */
export function fuzzRuns(budget: number): number {
  const given = Number(process.env.FUZZ_RUNS);
  return Number.isInteger(given) && given > 0 ? given : budget;
}

// ---------------------------------------------------------------------------------------------
// Placeholders, resolved at run time

/** What the fuzz has seen exist: ids it may aim at, so that requests reach past the 404s. */
export interface Pools {
  runs: { runId: string; nodeIds: string[] }[];
  pipelines: string[];
  events: string[];
  /** Jobs seen in queue listings, with their queue. */
  jobs: { queue: string; jobId: string }[];
}

type RefKind = "run" | "pipeline" | "node" | "event" | "job" | "qjob" | "bbjob";
const refPattern = /\$(run|pipeline|node|event|job|qjob|bbjob):(\d+)/g;

const ref = (kind: RefKind) => fc.nat({ max: 999 }).map((index) => `$${kind}:${index}`);

function pick<T>(items: readonly T[], index: number): T | undefined {
  return items.length === 0 ? undefined : items[index % items.length];
}

/** The run-time value of one placeholder (a name that exists nowhere when its pool is empty). */
export function resolveRef(kind: string, index: number, pools: Pools): string {
  switch (kind) {
    case "run":
      return pick(pools.runs, index)?.runId ?? "run_none_yet";
    case "pipeline":
      return pick(pools.pipelines, index) ?? "fz_none_yet";
    case "node":
      return pick(pick(pools.runs, index >> 3)?.nodeIds ?? [], index) ?? "n0";
    case "event":
      return pick(pools.events, index) ?? "0-0";
    case "job": {
      // The ids BullMQ holds for a run: its run job, its timeout job, its node jobs by epoch.
      const run = pick(pools.runs, index >> 3);
      if (!run) return "run_none_yet";
      const node = pick(run.nodeIds, index >> 5) ?? "n0";
      const variants = [
        run.runId,
        `${run.runId}__timeout__0`,
        `${run.runId}__0__${node}`,
        `${run.runId}__1__${node}`,
        `${run.runId}__timeout__1`,
        `${run.runId}__0__nope`,
      ];
      return variants[index % variants.length] as string;
    }
    case "qjob":
    case "bbjob": {
      // A job that exists, with its queue: `<queue>/jobs/<id>` (Rigflow's API) or `<queue>/<id>` (Bull-board's).
      const seen = pick(pools.jobs, index) ?? { queue: "runs", jobId: resolveRef("job", index, pools) };
      return `${seen.queue}/${kind === "qjob" ? "jobs/" : ""}${seen.jobId}`;
    }
    default:
      return `$${kind}:${index}`;
  }
}

/** Percent-encodes a string's UTF-8 (a lone surrogate, which encodeURIComponent refuses, as U+FFFD). */
export function urlEncode(text: string): string {
  return [...Buffer.from(text, "utf8")]
    .map((byte) =>
      /[A-Za-z0-9_.~-]/.test(String.fromCharCode(byte))
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`,
    )
    .join("");
}

/** A placeholder stays as it is (it is filled in at run time); any other text is URL-encoded. */
const urlSafe = (text: string) => (/^\$[a-z]+:\d+$/.test(text) ? text : urlEncode(text));

/** A path or query with its placeholders filled in (URL-encoded: ids may be anything). */
export function resolveUrlText(text: string, pools: Pools): string {
  return text.replace(refPattern, (_match, kind: string, index: string) => {
    const value = resolveRef(kind, Number(index), pools);
    // A queue and job pair is a path of safe ids: its slashes are the path's own.
    return kind === "qjob" || kind === "bbjob" ? value : urlEncode(value);
  });
}

// ---------------------------------------------------------------------------------------------
// Values

/** Strings that make validators work: empty, too long, unicode, control characters, names of keys. */
const trickyStrings = [
  "",
  " ",
  "x".repeat(65),
  "x".repeat(300),
  "run_",
  "run_doesnotexist",
  "a b",
  "a/b",
  "..",
  "%",
  "💥",
  "e\u0301",
  "\u0000",
  "\ud800",
  "null",
  "0",
  "-",
  "_",
  "meta",
  "events",
  "wait",
  "id",
  "servo-1",
  "servo-2",
  "nope",
  "home",
  "move",
  "n0",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "1700000000000-0",
  "99999999999999999999-0",
  "18446744073709551615-18446744073709551615",
] as const;

/** Ids: mostly ones that exist (or could), some that cannot. */
export const idText = fc.oneof(
  { arbitrary: ref("run"), weight: 3 },
  { arbitrary: ref("pipeline"), weight: 2 },
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), weight: 2 },
  { arbitrary: fc.constantFrom(...trickyStrings), weight: 2 },
  { arbitrary: fc.string({ maxLength: 70 }), weight: 1 },
  { arbitrary: fc.string({ unit: "grapheme", maxLength: 12 }), weight: 1 },
);

/** Numbers at and past every edge a schema may have. */
const edgyNumbers = fc.oneof(
  fc.constantFrom(
    0,
    -0,
    1,
    -1,
    0.5,
    1.5,
    49,
    50,
    180,
    181,
    1000,
    3600,
    65536,
    86_400_000,
    86_400_001,
    604_800_001,
    2 ** 31,
    2 ** 53,
    2 ** 53 + 2,
    Number.MAX_SAFE_INTEGER,
    1e21,
    1e308,
    -1e308,
    5e-324,
  ),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/**
 * A value to put where another was expected: wrong types, edge numbers, tricky strings, small
 * JSON, and `$deep:N` / `$huge:N`, which the encoder turns into N-deep arrays and N-byte strings.
 */
export const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(null, true, false, [], {}, [1], { x: 1 }), weight: 2 },
  { arbitrary: edgyNumbers, weight: 3 },
  { arbitrary: fc.constantFrom(...trickyStrings), weight: 2 },
  { arbitrary: idText, weight: 1 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 2 },
  {
    arbitrary: fc.constantFrom("$deep:10", "$deep:63", "$deep:65", "$deep:200", "$deep:30000"),
    weight: 1,
  },
  { arbitrary: fc.constantFrom("$huge:300", "$huge:5000", "$huge:17000", "$huge:70000"), weight: 1 },
);

// ---------------------------------------------------------------------------------------------
// Mutations of near-valid documents

type PathPart = string | number;
export type Mutation =
  | { op: "set"; path: PathPart[]; value: unknown }
  | { op: "delete"; path: PathPart[] }
  | { op: "add"; path: PathPart[]; key: string; value: unknown };

/** An own property only: `x.__proto__` of a plain object is Object.prototype, never to be touched. */
function ownValue(container: unknown, key: PathPart): unknown {
  if (container === null || typeof container !== "object") return undefined;
  return Object.hasOwn(container, key) ? (container as Record<PathPart, unknown>)[key] : undefined;
}

/** Applies mutations to a copy; a path that leads nowhere is made (objects for names, arrays for indexes). */
export function applyMutations(value: unknown, mutations: readonly Mutation[]): unknown {
  const holder: Record<string, unknown> = { root: structuredClone(value) };
  for (const mutation of mutations) {
    const path: PathPart[] = ["root", ...mutation.path];
    const last = path.pop() as PathPart;
    let parent: unknown = holder;
    for (const [index, part] of path.entries()) {
      const next = ownValue(parent, part);
      if (next === null || typeof next !== "object") {
        const following = index + 1 < path.length ? path[index + 1] : last;
        const made = typeof following === "number" ? [] : {};
        defineOwn(parent as Record<PathPart, unknown>, part, made);
        parent = made;
      } else parent = next;
    }
    const target = parent as Record<PathPart, unknown>;
    // Copies: the values come from shared constants, which a later mutation must not change.
    const value = "value" in mutation ? structuredClone(mutation.value) : undefined;
    if (mutation.op === "set") {
      defineOwn(target, last, value);
    } else if (mutation.op === "delete") {
      if (Array.isArray(target) && typeof last === "number") target.splice(last, 1);
      else if (Object.hasOwn(target, last)) delete target[last];
    } else {
      const inner = ownValue(target, last);
      if (inner !== null && typeof inner === "object" && !Array.isArray(inner)) {
        defineOwn(inner as Record<string, unknown>, mutation.key, value);
      } else {
        const made = {};
        defineOwn(made, mutation.key, value);
        defineOwn(target, last, made);
      }
    }
  }
  return holder.root;
}

/** An own property even for `__proto__` (plain assignment would set the prototype instead). */
function defineOwn(target: Record<PathPart, unknown>, key: PathPart, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

const nodeIndex = fc.nat({ max: 4 });
const docPath: fc.Arbitrary<PathPart[]> = fc.oneof(
  fc.constantFrom<PathPart[]>(
    ["id"],
    ["name"],
    ["nodes"],
    ["edges"],
    ["reserve_devices"],
    ["timeout_ms"],
    ["ui"],
    ["version"],
  ),
  fc
    .tuple(
      nodeIndex,
      fc.constantFrom(
        "id",
        "type",
        "device_id",
        "function_id",
        "params",
        "retry",
        "timeout_ms",
        "ui",
        "on_failure",
      ),
    )
    .map(([index, field]): PathPart[] => ["nodes", index, field]),
  nodeIndex.map((index): PathPart[] => ["nodes", index]),
  fc
    .tuple(nodeIndex, fc.constantFrom("position", "speed", "delta", "x", "__proto__"))
    .map(([index, field]): PathPart[] => ["nodes", index, "params", field]),
  fc
    .tuple(nodeIndex, fc.constantFrom("attempts", "backoff_ms", "backoff", "max_backoff_ms", "jitter"))
    .map(([index, field]): PathPart[] => ["nodes", index, "retry", field]),
  fc
    .tuple(nodeIndex, fc.constantFrom("source", "target", "source_output", "target_input"))
    .map(([index, field]): PathPart[] => ["edges", index, field]),
  nodeIndex.map((index): PathPart[] => ["edges", index]),
);

const unknownKey = fc.oneof(
  fc.constantFrom("extra", "on_failure", "__proto__", "constructor", "prototype", "", "ui", "nodes"),
  fc.string({ maxLength: 12 }),
);

const mutation = (paths: fc.Arbitrary<PathPart[]>): fc.Arbitrary<Mutation> =>
  fc.oneof(
    { arbitrary: fc.record({ op: fc.constant("set" as const), path: paths, value: weirdValue }), weight: 5 },
    { arbitrary: fc.record({ op: fc.constant("delete" as const), path: paths }), weight: 2 },
    {
      arbitrary: fc.record({
        op: fc.constant("add" as const),
        path: paths,
        key: unknownKey,
        value: weirdValue,
      }),
      weight: 2,
    },
  );

/** Mostly a few mutations, sometimes none (the valid case must work too). */
const mutations = (paths: fc.Arbitrary<PathPart[]>) =>
  fc.oneof(
    { arbitrary: fc.constant([] as Mutation[]), weight: 1 },
    { arbitrary: fc.array(mutation(paths), { minLength: 1, maxLength: 3 }), weight: 1 },
  );

// ---------------------------------------------------------------------------------------------
// Pipeline documents and request bodies

const servoCall = fc.oneof(
  fc.constant({ function_id: "home", params: {} }),
  fc.constant({ function_id: "status", params: {} }),
  fc
    .record(
      { position: fc.integer({ min: 0, max: 180 }), speed: fc.integer({ min: 1000, max: 5000 }) },
      { requiredKeys: ["position"] },
    )
    .map((params) => ({ function_id: "move", params })),
  fc.integer({ min: -20, max: 20 }).map((delta) => ({ function_id: "step", params: { delta } })),
);

const docNode = (id: string) =>
  fc
    .record(
      {
        device: fc.constantFrom("servo-1", "servo-2"),
        call: servoCall,
        retry: fc.record({
          attempts: fc.integer({ min: 1, max: 3 }),
          backoff_ms: fc.integer({ min: 0, max: 50 }),
        }),
        timeout_ms: fc.integer({ min: 1000, max: 10_000 }),
      },
      { requiredKeys: ["device", "call"] },
    )
    .map(({ device, call, retry, timeout_ms }) => ({
      id,
      type: "device",
      device_id: device,
      ...call,
      ...(retry && { retry }),
      ...(timeout_ms !== undefined && { timeout_ms }),
    }));

/** Pipeline ids the fuzz saves under: few, so that saves replace and deletes find something. */
const pipelineId = fc.oneof(
  { arbitrary: fc.constantFrom("fz_p0", "fz_p1", "fz_p2", "fz_p3"), weight: 3 },
  { arbitrary: ref("pipeline"), weight: 1 },
);

/** A valid pipeline document: 1-4 servo nodes, edges only forward (a DAG), some passing data. */
const validDocument = fc.tuple(pipelineId, fc.integer({ min: 1, max: 4 })).chain(([id, count]) => {
  const ids = Array.from({ length: count }, (_, index) => `n${index}`);
  const pairs = ids.flatMap((source, i) => ids.slice(i + 1).map((target) => [source, target] as const));
  return fc.record(
    {
      id: fc.constant(id),
      name: fc.string({ maxLength: 20 }),
      nodes: fc.tuple(...ids.map(docNode)),
      edges: fc.subarray(pairs).map((edges) => edges.map(([source, target]) => ({ source, target }))),
      reserve_devices: fc.boolean(),
      ui: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    },
    { requiredKeys: ["id", "nodes"] },
  );
});

/** A pipeline document, valid or a few mutations away from it. */
export const documentValue: fc.Arbitrary<unknown> = fc
  .tuple(validDocument, mutations(docPath))
  .map(([document, changes]) => applyMutations(document, changes));

const runBodyPath: fc.Arbitrary<PathPart[]> = fc.oneof(
  fc.constantFrom<PathPart[]>(
    ["pipeline_id"],
    ["pipeline"],
    ["params"],
    ["params", "n0"],
    ["params", "n0", "position"],
    ["params", "n9"],
    ["reserve_devices"],
    ["timeout_ms"],
  ),
  docPath.map((path): PathPart[] => ["pipeline", ...path]),
);

/** POST /api/runs: `{pipeline_id}` or `{pipeline}`, with options, valid or mutated. */
export const runBodyValue: fc.Arbitrary<unknown> = fc
  .tuple(
    fc.oneof(
      pipelineId.map((id) => ({ pipeline_id: id })),
      validDocument.map((pipeline) => ({ pipeline })),
    ),
    fc.record(
      {
        params: fc.constantFrom({}, {}, { n0: {} }, { n0: { position: 42 } }),
        reserve_devices: fc.boolean(),
        timeout_ms: fc.integer({ min: 1000, max: 600_000 }),
      },
      { requiredKeys: [] },
    ),
    mutations(runBodyPath),
  )
  .map(([base, options, changes]) => applyMutations({ ...base, ...options }, changes));

/** POST /api/pipelines/execute: a document itself, or `{pipeline_id}`. */
export const executeBodyValue: fc.Arbitrary<unknown> = fc.oneof(
  documentValue,
  runBodyValue.map((body) =>
    body !== null && typeof body === "object" && "pipeline" in body ? { pipeline_id: "fz_p0" } : body,
  ),
);

/** POST /api/queues/{name}/clean. */
export const cleanBodyValue: fc.Arbitrary<unknown> = fc
  .tuple(
    fc.record(
      {
        state: fc.constantFrom("completed", "failed", "waiting", "active"),
        grace_ms: fc.constantFrom(0, 1000, 3_600_000),
        limit: fc.integer({ min: 1, max: 100 }),
      },
      { requiredKeys: ["state", "grace_ms"] },
    ),
    mutations(fc.constantFrom<PathPart[]>(["state"], ["grace_ms"], ["limit"], ["extra"])),
  )
  .map(([body, changes]) => applyMutations(body, changes));

/** The operator-control bodies of the contract (pause, recover, approve, reject). */
export const controlBodyValue: fc.Arbitrary<unknown> = fc
  .tuple(
    fc.constantFrom<Record<string, unknown>>(
      {},
      { mode: "deferred" },
      { mode: "immediate" },
      { action: "retry" },
      { action: "skip" },
      { action: "complete", outputs: { position: 1, complete: true } },
      { outputs: { plate_id: "p1" } },
      { reason: "no" },
    ),
    mutations(fc.constantFrom<PathPart[]>(["mode"], ["action"], ["outputs"], ["reason"], ["extra"])),
  )
  .map(([body, changes]) => applyMutations(body, changes));

// ---------------------------------------------------------------------------------------------
// Bodies on the wire

/** How a body's text is damaged on its way out. */
export type Damage =
  | { kind: "none" }
  | { kind: "truncate"; at: number }
  | { kind: "invalid-utf8"; at: number; bytes: number[] }
  | { kind: "bom" }
  | { kind: "trailing"; text: string }
  | { kind: "inject"; key: string; at: number; value: string };

export type BodySpec = { json: unknown; damage: Damage } | { text: string } | { bytes: number[] };

const damage: fc.Arbitrary<Damage> = fc.oneof(
  { arbitrary: fc.constant({ kind: "none" as const }), weight: 18 },
  { arbitrary: fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant("invalid-utf8" as const),
      at: fc.nat(),
      bytes: fc.constantFrom<number[]>(
        [0xff],
        [0xc3],
        [0xe2, 0x82],
        [0xed, 0xa0, 0x80],
        [0xc0, 0xaf],
        [0xfe, 0xff],
      ),
    }),
    weight: 1,
  },
  { arbitrary: fc.constant({ kind: "bom" as const }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant("trailing" as const),
      text: fc.constantFrom(",", "}", " x", "\u0000", "{}", " "),
    }),
    weight: 1,
  },
  {
    arbitrary: fc.record({
      kind: fc.constant("inject" as const),
      key: fc.constantFrom("__proto__", "constructor", "prototype"),
      at: fc.nat(),
      value: fc.constantFrom("{}", '{"polluted":true}', "1", "null", '{"prototype":{}}'),
    }),
    weight: 2,
  },
);

/** A body for a route that reads JSON: `value` damaged or not, or any JSON, text or bytes. */
export const bodyOf = (value: fc.Arbitrary<unknown>): fc.Arbitrary<BodySpec> =>
  fc.oneof(
    { arbitrary: fc.record({ json: value, damage }), weight: 20 },
    { arbitrary: fc.record({ json: fc.jsonValue({ maxDepth: 4 }), damage }), weight: 2 },
    {
      arbitrary: fc.record({
        text: fc.oneof(
          fc.string({ maxLength: 40 }),
          fc.constantFrom("", " ", "null", "NaN", "[", "{", '{"a":1}{"b":2}', "\ufeff{}", "1e999999"),
        ),
      }),
      weight: 1,
    },
    { arbitrary: fc.record({ bytes: fc.array(fc.nat({ max: 255 }), { maxLength: 40 }) }), weight: 1 },
  );

/** The value with its placeholders filled in, `$deep`/`$huge` still in place as strings. */
export function resolveJsonValue(value: unknown, pools: Pools): unknown {
  if (typeof value === "string") {
    const whole = /^\$(run|pipeline|node|event|job):(\d+)$/.exec(value);
    return whole ? resolveRef(whole[1] as string, Number(whole[2]), pools) : value;
  }
  if (Array.isArray(value)) return value.map((item) => resolveJsonValue(item, pools));
  if (value !== null && typeof value === "object") {
    const copy: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) defineOwn(copy, key, resolveJsonValue(item, pools));
    return copy;
  }
  return value;
}

/** JSON text with `"$deep:N"` and `"$huge:N"` expanded. */
export function jsonText(value: unknown, pools: Pools): string {
  return JSON.stringify(resolveJsonValue(value, pools) ?? null).replace(
    /"\$(deep|huge):(\d+)"/g,
    (_match, kind: string, size: string) => {
      const n = Number(size);
      return kind === "deep" ? "[".repeat(n) + "]".repeat(n) : JSON.stringify("x".repeat(n));
    },
  );
}

/** The byte offsets of each `{` that opens an object (not inside a string) in JSON text. */
function objectOpenings(text: string): number[] {
  const found: number[] = [];
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (inString) {
      if (char === "\\") i += 1;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === "{") found.push(i);
  }
  return found;
}

/** The bytes a body spec stands for. */
export function encodeBody(body: BodySpec, pools: Pools): Buffer {
  if ("bytes" in body) return Buffer.from(body.bytes);
  if ("text" in body) return Buffer.from(body.text);
  const text = jsonText(body.json, pools);
  const { damage } = body;
  switch (damage.kind) {
    case "none":
      return Buffer.from(text);
    case "truncate":
      return Buffer.from(text.slice(0, damage.at % Math.max(1, text.length)));
    case "bom":
      return Buffer.from(`\ufeff${text}`);
    case "trailing":
      return Buffer.from(text + damage.text);
    case "invalid-utf8": {
      const bytes = Buffer.from(text);
      const at = damage.at % (bytes.length + 1);
      return Buffer.concat([bytes.subarray(0, at), Buffer.from(damage.bytes), bytes.subarray(at)]);
    }
    case "inject": {
      const openings = objectOpenings(text);
      const at = pick(openings, damage.at);
      if (at === undefined) return Buffer.from(`{"${damage.key}":${damage.value},"x":${text}}`);
      const empty = text[at + 1] === "}";
      const inserted = `"${damage.key}":${damage.value}${empty ? "" : ","}`;
      return Buffer.from(text.slice(0, at + 1) + inserted + text.slice(at + 1));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP requests

/** One request: path and query may hold placeholders; headers are sent as they are. */
export interface FuzzRequest {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body?: BodySpec;
}

/** Path segments: ids that exist, ids that cannot, and encodings a router may trip on. */
export const segment = (kind: RefKind) =>
  fc.oneof(
    { arbitrary: ref(kind), weight: 6 },
    { arbitrary: idText.map(urlSafe), weight: 3 },
    {
      arbitrary: fc.constantFrom(
        "%",
        "%zz",
        "%E0%A4%A",
        "%00",
        "%2F",
        "%2e%2e",
        "..",
        ".",
        "%C0%AF",
        "%FF",
        "a;b",
        "a%20b",
        "%25",
        "%ED%A0%80",
        "x".repeat(2000),
      ),
      weight: 2,
    },
  );

/** Header values Node will send: printable ASCII. */
const headerText = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
  maxLength: 60,
});

const contentType = fc.oneof(
  { arbitrary: fc.constant("application/json"), weight: 14 },
  {
    arbitrary: fc.constantFrom(
      "application/json; charset=utf-8",
      "APPLICATION/JSON",
      "application/merge-patch+json",
      "application/json;charset=utf-16",
      "application/jsonx",
      "application/json ; x=y",
      "text/plain",
      "text/json",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/octet-stream",
      "",
    ),
    weight: 4,
  },
  { arbitrary: headerText, weight: 1 },
);

/** Headers every request may carry: a content type (or none), and now and then something odd. */
const commonHeaders = (withBody: boolean) =>
  fc
    .record(
      {
        "content-type": withBody ? contentType : fc.constant("application/json"),
        accept: fc.constantFrom("application/json", "*/*", "text/event-stream", "text/html", "x/y"),
        origin: fc.constantFrom("null", "http://evil.example", "http://127.0.0.1", "file://"),
        authorization: fc.oneof(fc.constantFrom("Bearer ", "Bearer x", "Basic Zm9vOmJhcg=="), headerText),
        cookie: fc.oneof(fc.constantFrom("rigflow_session=x", "rigflow_session=", "a=b; c"), headerText),
        "x-forwarded-for": fc.constantFrom("1.2.3.4", "::1", "garbage", "1.2.3.4, 5.6.7.8"),
        host: fc.constantFrom("localhost", "[::1]", "evil.example", "127.0.0.1:1", ""),
      },
      { requiredKeys: withBody ? ["content-type"] : [] },
    )
    .map((headers) => {
      const out: Record<string, string> = {};
      for (const [name, value] of Object.entries(headers)) if (value !== undefined) out[name] = value;
      return out;
    });

const queryValue = fc.oneof(
  { arbitrary: fc.constantFrom("$run:0", "$run:1", "$pipeline:0", "$event:0", "$event:1"), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      "",
      "0",
      "1",
      "-1",
      "1.5",
      "1e3",
      "0x10",
      "NaN",
      "Infinity",
      "200",
      "201",
      "1000",
      "1001",
      "3601",
      "9".repeat(30),
      "completed",
      "failed",
      "queued",
      "waiting",
      "delayed",
      "paused",
      "sleeping",
      "0-0",
      "1700000000000-0",
      "99999999999999999999-0",
      "%",
      "%zz",
      "%E0%A4%A",
      "a+b",
      "x".repeat(3000),
    ),
    weight: 4,
  },
  { arbitrary: idText.map(urlSafe), weight: 2 },
);

/** A query string of some of `keys` (and now and then another), values valid or not. */
export const queryOf = (...keys: string[]) =>
  fc
    .array(
      fc.tuple(
        fc.oneof(
          { arbitrary: fc.constantFrom(...(keys.length ? keys : ["x"])), weight: 4 },
          { arbitrary: fc.constantFrom("x", "token", "__proto__", "limit[]", ""), weight: 1 },
        ),
        fc.option(queryValue, { nil: undefined, freq: 8 }),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => pairs.map(([key, value]) => (value === undefined ? key : `${key}=${value}`)).join("&"));

interface RouteShape {
  method: string | fc.Arbitrary<string>;
  path: fc.Arbitrary<string>;
  query?: fc.Arbitrary<string>;
  body?: fc.Arbitrary<BodySpec>;
  headers?: fc.Arbitrary<Record<string, string>>;
}

/** A route's requests: its own method, path, query and body, with common headers now and then. */
export function route(shape: RouteShape): fc.Arbitrary<FuzzRequest> {
  const method = typeof shape.method === "string" ? fc.constant(shape.method) : shape.method;
  return fc
    .record({
      method,
      path: shape.path,
      query: shape.query ?? fc.constant(""),
      body: shape.body ? fc.option(shape.body, { nil: undefined, freq: 12 }) : fc.constant(undefined),
      headers: fc.oneof(
        { arbitrary: fc.constant(shape.body ? { "content-type": "application/json" } : {}), weight: 7 },
        { arbitrary: commonHeaders(shape.body !== undefined), weight: 1 },
      ),
      extra: shape.headers ?? fc.constant({}),
    })
    .map(({ method, path, query, body, headers, extra }) => ({
      method,
      path,
      query,
      headers: { ...headers, ...extra },
      ...(body && { body }),
    }));
}

/** A path from parts: strings as they are, arbitraries generated. */
export const pathOf = (...parts: (string | fc.Arbitrary<string>)[]): fc.Arbitrary<string> =>
  fc
    .tuple(...parts.map((part) => (typeof part === "string" ? fc.constant(part) : part)))
    .map((texts) => texts.join(""));

export const anyBody = bodyOf(fc.jsonValue({ maxDepth: 3 }));

export const queueName = fc.oneof(
  { arbitrary: fc.constantFrom("runs", "device-servo-1", "device-servo-2"), weight: 6 },
  {
    arbitrary: fc.constantFrom(
      "device-nope",
      "device-",
      "meta",
      "runs:wait",
      "runs%3Ameta",
      "bull",
      "%2A",
      "RUNS",
      "device-servo-1%00",
    ),
    weight: 2,
  },
  { arbitrary: segment("run"), weight: 1 },
);

export const runSegment = segment("run");
export const pipelineSegment = segment("pipeline");
export const nodeSegment = segment("node");
export const jobSegment = segment("job");
/** `<queue>/jobs/<job>` of a job seen in a listing, most of the time. */
export const queueJobPath = fc.oneof(
  { arbitrary: ref("qjob"), weight: 2 },
  { arbitrary: fc.tuple(queueName, jobSegment).map(([queue, job]) => `${queue}/jobs/${job}`), weight: 1 },
);
/** `<queue>/<job>`, the same for Bull-board's API. */
export const bullBoardJobPath = fc.oneof(
  { arbitrary: ref("bbjob"), weight: 2 },
  { arbitrary: fc.tuple(queueName, jobSegment).map(([queue, job]) => `${queue}/${job}`), weight: 1 },
);

// ---------------------------------------------------------------------------------------------
// WebSocket messages

/** One frame from a WebSocket client: a JSON message (maybe damaged), other text, or bytes. */
export type WsFrame =
  { json: unknown; damage: Damage } | { text: string } | { binary: number[] } | { bigText: number };

const afterValue = fc.oneof(
  { arbitrary: ref("event"), weight: 3 },
  {
    arbitrary: fc.constantFrom(
      "0-0",
      "0",
      "1700000000000-0",
      "18446744073709551615-18446744073709551615",
      "18446744073709551616-0",
      "99999999999999999999-0",
      "1-18446744073709551616",
      "-1-0",
      "1-",
      "-",
      "yesterday",
      "",
      "1700000000000-0 ",
      "０-０",
    ),
    weight: 3,
  },
  { arbitrary: weirdValue, weight: 2 },
);

const wsRunId = fc.oneof(
  { arbitrary: ref("run"), weight: 5 },
  { arbitrary: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/), weight: 2 },
  { arbitrary: weirdValue, weight: 2 },
);

/** subscribe / unsubscribe, valid or mutated. */
export const wsMessageValue: fc.Arbitrary<unknown> = fc
  .tuple(
    fc.record(
      {
        action: fc.oneof(
          { arbitrary: fc.constantFrom("subscribe", "unsubscribe"), weight: 8 },
          { arbitrary: fc.constantFrom("Subscribe", "ping", "", "subscribe ", "__proto__"), weight: 1 },
          { arbitrary: weirdValue, weight: 1 },
        ),
        run_id: wsRunId,
        after: afterValue,
      },
      { requiredKeys: ["action", "run_id"] },
    ),
    fc.oneof(
      { arbitrary: fc.constant([] as Mutation[]), weight: 2 },
      {
        arbitrary: fc.array(
          mutation(fc.constantFrom<PathPart[]>(["action"], ["run_id"], ["after"], ["extra"], ["type"])),
          { minLength: 1, maxLength: 2 },
        ),
        weight: 1,
      },
    ),
  )
  .map(([message, changes]) => applyMutations(message, changes));

export const wsFrame: fc.Arbitrary<WsFrame> = fc.oneof(
  { arbitrary: fc.record({ json: wsMessageValue, damage }), weight: 14 },
  { arbitrary: fc.record({ json: fc.jsonValue({ maxDepth: 3 }), damage }), weight: 2 },
  {
    arbitrary: fc.record({
      text: fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom("", "null", "[]", "{", "\u0000")),
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ binary: fc.array(fc.nat({ max: 255 }), { maxLength: 30 }) }), weight: 1 },
  { arbitrary: fc.record({ bigText: fc.constantFrom(4097, 20_000, 70_000) }), weight: 1 },
);

/** A query for /ws: run_id (0-3 times), after, token, and now and then something else. */
export const wsQuery = fc
  .record(
    {
      runIds: fc.array(fc.oneof(ref("run"), idText), { maxLength: 3 }),
      after: fc.option(afterValue, { nil: undefined, freq: 2 }),
      other: fc.option(fc.constantFrom("token=x", "x=1", "run_id", "after", "%zz=1"), {
        nil: undefined,
        freq: 4,
      }),
    },
    { requiredKeys: ["runIds"] },
  )
  .map(({ runIds, after, other }) => ({ runIds, after, other }));
