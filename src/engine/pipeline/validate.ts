import type { z } from "zod";
import type { DeviceCatalog, FunctionContract } from "../catalog.js";
import { RigflowError } from "../errors/rigflow-error.js";
import { topologicalOrder } from "./dag.js";
import {
  pipelineDocumentSchema,
  toPipeline,
  type ApprovalSpec,
  type Pipeline,
  type PipelineNode,
} from "./document.js";
import type { Limits, Plan, PlanNode } from "./plan.js";

/** Parses a pipeline document's shape; the first problem becomes PIPELINE_INVALID naming its path. */
export function parsePipelineDocument(
  value: unknown,
  /** A document saved before unknown fields were refused: they are dropped, not refused. */
  stored = false,
): {
  document: Record<string, unknown>;
  pipeline: Pipeline;
} {
  if (stored) value = withoutUnknownFields(value);
  const parsed = pipelineDocumentSchema.safeParse(value);
  if (!parsed.success) {
    const [first] = parsed.error.issues;
    if (first?.code === "unrecognized_keys") {
      const where = formatPath(first.path);
      const fields = first.keys.map((key) => (where ? `${where}.${key}` : key));
      throw new RigflowError(
        "VALIDATION_FAILED",
        `pipeline: unknown field ${fields.map((field) => `'${field}'`).join(", ")}: a document keeps only the fields the contract defines (an editor's own data goes in 'ui')`,
        { field: fields[0], fields },
      );
    }
    if (first?.path.length === 3 && first.path[0] === "nodes" && first.path[2] === "type") {
      const node = (value as { nodes: Record<string, unknown>[] }).nodes[first.path[1] as number];
      throw new RigflowError(
        "NODE_TYPE_UNSUPPORTED",
        `node '${String(node?.id)}' has type ${JSON.stringify(node?.type)}; a node is of type "device" (the default) or "approval"`,
        { node_id: node?.id, type: node?.type },
      );
    }
    if (first?.path[0] === "nodes" && typeof first.path[1] === "number" && first.path[2] === "retry") {
      const node = (value as { nodes: Record<string, unknown>[] }).nodes[first.path[1]];
      const error = shapeError("PIPELINE_INVALID", parsed.error, "pipeline");
      throw new RigflowError(
        "PIPELINE_INVALID",
        `node '${String(node?.id)}': ${formatPath(first.path.slice(2))}: ${first.message}`,
        { node_id: node?.id, ...error.details },
      );
    }
    throw shapeError("PIPELINE_INVALID", parsed.error, "pipeline");
  }
  return { document: value as Record<string, unknown>, pipeline: toPipeline(parsed.data) };
}

/** A copy of a stored document without the fields the schema does not know, at any depth it checks. */
function withoutUnknownFields(value: unknown): unknown {
  const current = structuredClone(value);
  // Each pass drops what one parse reports; a document has few levels (pipeline, node, retry, edge).
  for (let pass = 0; pass < 8; pass += 1) {
    const parsed = pipelineDocumentSchema.safeParse(current);
    if (parsed.success) return current;
    const unknown = parsed.error.issues.filter((issue) => issue.code === "unrecognized_keys");
    if (unknown.length === 0) return current;
    for (const issue of unknown) {
      let target: unknown = current;
      for (const part of issue.path) target = (target as Record<PropertyKey, unknown> | undefined)?.[part];
      if (target && typeof target === "object") {
        for (const key of issue.keys) delete (target as Record<string, unknown>)[key];
      }
    }
  }
  return current;
}

/**
 * Checks a pipeline against its graph rules, the limits and the devices' functions, and compiles it.
 * Nothing is enqueued for a pipeline that fails here. `overrides` are run-time params per node id.
 */
export function compilePipeline(
  pipeline: Pipeline,
  catalog: DeviceCatalog,
  limits: Limits,
  overrides: Record<string, Record<string, unknown>> = {},
  reserveDevices = pipeline.reserveDevices,
  timeoutMs = pipeline.timeoutMs,
): Plan {
  if (pipeline.nodes.length > limits.maxNodes) {
    throw new RigflowError(
      "PIPELINE_TOO_LARGE",
      `the pipeline has ${pipeline.nodes.length} nodes; the limit is ${limits.maxNodes}`,
      { node_count: pipeline.nodes.length, limit: limits.maxNodes },
    );
  }
  const nodes = new Map<string, PipelineNode>();
  for (const node of pipeline.nodes) {
    if (nodes.has(node.id)) {
      throw new RigflowError("NODE_DUPLICATE_ID", `two nodes have the id '${node.id}'`, { node_id: node.id });
    }
    const override = Object.hasOwn(overrides, node.id) ? overrides[node.id] : undefined;
    nodes.set(node.id, { ...node, params: { ...node.params, ...override } });
  }
  for (const nodeId of Object.keys(overrides)) {
    if (!nodes.has(nodeId)) {
      throw new RigflowError(
        "VALIDATION_FAILED",
        `params names node '${nodeId}', which is not in the pipeline`,
        {
          node_id: nodeId,
        },
      );
    }
  }
  checkAsks(pipeline, limits, timeoutMs);
  checkEdgeEndpoints(pipeline, nodes);
  const ordered = topologicalOrder([...nodes.keys()], pipeline.edges);
  if ("cycle" in ordered) {
    throw new RigflowError("PIPELINE_CYCLE", `the edges form a cycle: ${ordered.cycle.join(" -> ")}`, {
      cycle: ordered.cycle,
    });
  }
  const functions = new Map<string, { fn: FunctionContract; driver: string }>();
  for (const node of nodes.values()) {
    if (!node.approval) functions.set(node.id, resolveFunction(node, catalog));
  }
  const planNodes = new Map<string, PlanNode>();
  for (const id of ordered.order) {
    const node = nodes.get(id) as PipelineNode;
    if (node.approval) {
      planNodes.set(id, approvalPlanNode(node, node.approval));
      continue;
    }
    const { fn, driver } = functions.get(id) as { fn: FunctionContract; driver: string };
    planNodes.set(id, {
      id,
      deviceId: node.deviceId,
      driver,
      functionId: node.functionId,
      params: node.params,
      inputs: [],
      predecessors: [],
      successors: [],
      retry: node.retry ?? fn.retry,
      timeoutMs: node.timeoutMs ?? fn.timeoutMs,
      idempotent: fn.idempotent,
      ...(node.onFailure === "hold" && { onFailure: "hold" as const }),
    });
  }
  linkEdges(pipeline, planNodes, functions);
  for (const node of planNodes.values()) {
    const resolved = functions.get(node.id);
    if (resolved) checkParams(node, resolved.fn, limits);
  }
  return {
    pipelineId: pipeline.id,
    pipelineName: pipeline.name,
    nodes: [...planNodes.values()],
    reserveDevices,
    timeoutMs: timeoutMs ?? limits.defaultRunTimeoutMs,
  };
}

/** An approval node as it runs: one attempt, its own wait limit (0: none), and no device. */
function approvalPlanNode(node: PipelineNode, approval: ApprovalSpec): PlanNode {
  return {
    id: node.id,
    deviceId: "",
    driver: "",
    functionId: node.functionId,
    params: {},
    inputs: [],
    predecessors: [],
    successors: [],
    retry: { attempts: 1, backoffMs: 0, backoff: "fixed", jitter: false },
    timeoutMs: node.timeoutMs ?? 0,
    // Waiting for a person again is harmless: a pause puts a waiting approval back in the queue.
    idempotent: true,
    ...(node.onFailure === "hold" && { onFailure: "hold" as const }),
    approval,
  };
}

/** A timeout or attempts over the configured limits: 400 VALIDATION_FAILED naming the field. */
function checkAsks(pipeline: Pipeline, limits: Limits, runTimeoutMs: number | undefined): void {
  const over = (field: string, asked: number, limit: number, variable: string, extra = {}) =>
    new RigflowError(
      "VALIDATION_FAILED",
      `${field}: ${asked} is over this server's limit of ${limit} (${variable})`,
      { field, limit, ...extra },
    );
  if (runTimeoutMs !== undefined && runTimeoutMs > limits.maxRunTimeoutMs) {
    throw over("timeout_ms", runTimeoutMs, limits.maxRunTimeoutMs, "MAX_RUN_TIMEOUT_MS");
  }
  pipeline.nodes.forEach((node, index) => {
    // An approval waits for a person, not a device: its own limit (7 days) and the run's apply.
    if (node.approval) return;
    if (node.timeoutMs !== undefined && node.timeoutMs > limits.maxNodeTimeoutMs) {
      throw over(
        `nodes[${index}].timeout_ms`,
        node.timeoutMs,
        limits.maxNodeTimeoutMs,
        "MAX_NODE_TIMEOUT_MS",
        {
          node_id: node.id,
        },
      );
    }
    if (node.retry && node.retry.attempts > limits.maxAttempts) {
      throw over(`nodes[${index}].retry.attempts`, node.retry.attempts, limits.maxAttempts, "MAX_ATTEMPTS", {
        node_id: node.id,
      });
    }
  });
}

function checkEdgeEndpoints(pipeline: Pipeline, nodes: Map<string, PipelineNode>): void {
  const seen = new Set<string>();
  pipeline.edges.forEach((edge, index) => {
    const where = { edge_index: index, source: edge.source, target: edge.target };
    for (const end of [edge.source, edge.target]) {
      if (!nodes.has(end)) {
        const other = end === edge.source ? edge.target : edge.source;
        throw new RigflowError(
          "EDGE_UNKNOWN_NODE",
          `edge ${index} (${edge.source} -> ${edge.target}): node '${other}' is linked to unknown node '${end}'`,
          { ...where, node_id: end },
        );
      }
    }
    if (edge.source === edge.target) {
      throw new RigflowError("EDGE_SELF_LOOP", `edge ${index}: node '${edge.source}' depends on itself`, {
        ...where,
        node_id: edge.source,
      });
    }
    const key = `${edge.source}\u0000${edge.target}\u0000${edge.sourceOutput ?? ""}\u0000${edge.targetInput ?? ""}`;
    if (seen.has(key)) {
      throw new RigflowError(
        "EDGE_DUPLICATE",
        `edge ${index} (${edge.source} -> ${edge.target}) appears twice`,
        where,
      );
    }
    seen.add(key);
  });
}

function resolveFunction(
  node: PipelineNode,
  catalog: DeviceCatalog,
): { fn: FunctionContract; driver: string } {
  const device = catalog.device(node.deviceId);
  if (!device) {
    throw new RigflowError(
      "DEVICE_UNKNOWN",
      `node '${node.id}' uses device '${node.deviceId}', which is not in the devices file`,
      { node_id: node.id, device_id: node.deviceId, known_devices: catalog.devices().map((d) => d.id) },
    );
  }
  const fn = catalog.functionOf(device.driver, node.functionId);
  if (!fn) {
    const available = catalog.drivers().find((driver) => driver.name === device.driver)?.functions ?? [];
    throw new RigflowError(
      "FUNCTION_UNKNOWN",
      `node '${node.id}': device '${node.deviceId}' (driver ${device.driver}) has no function '${node.functionId}'`,
      {
        node_id: node.id,
        device_id: node.deviceId,
        function_id: node.functionId,
        available_functions: available.map((f) => f.id),
      },
    );
  }
  return { fn, driver: device.driver };
}

function linkEdges(
  pipeline: Pipeline,
  planNodes: Map<string, PlanNode>,
  functions: Map<string, { fn: FunctionContract }>,
): void {
  pipeline.edges.forEach((edge, index) => {
    const source = planNodes.get(edge.source) as PlanNode;
    const target = planNodes.get(edge.target) as PlanNode;
    if (!source.successors.includes(target.id)) source.successors.push(target.id);
    if (!target.predecessors.includes(source.id)) target.predecessors.push(source.id);
    if (edge.sourceOutput === undefined && edge.targetInput === undefined) return;
    const where = { edge_index: index, source: edge.source, target: edge.target };
    if (edge.sourceOutput === undefined || edge.targetInput === undefined) {
      throw new RigflowError(
        "PIPELINE_INVALID",
        `edge ${index} (${edge.source} -> ${edge.target}): source_output and target_input go together`,
        where,
      );
    }
    const sourceOutputs =
      source.approval?.outputs ?? (functions.get(source.id) as { fn: FunctionContract }).fn.outputs;
    if (!Object.hasOwn(sourceOutputs, edge.sourceOutput)) {
      throw new RigflowError(
        "EDGE_OUTPUT_UNKNOWN",
        `edge ${index}: '${source.functionId}' of node '${source.id}' has no output '${edge.sourceOutput}'` +
          ` (it has: ${Object.keys(sourceOutputs).join(", ") || "none"})`,
        { ...where, node_id: source.id, source_output: edge.sourceOutput },
      );
    }
    const targetParams = target.approval
      ? {}
      : (functions.get(target.id) as { fn: FunctionContract }).fn.params.shape;
    if (!Object.hasOwn(targetParams, edge.targetInput)) {
      throw new RigflowError(
        "EDGE_INPUT_UNKNOWN",
        `edge ${index}: '${target.functionId}' of node '${target.id}' has no parameter '${edge.targetInput}'` +
          ` (it has: ${Object.keys(targetParams).join(", ") || "none"})`,
        { ...where, node_id: target.id, target_input: edge.targetInput },
      );
    }
    if (target.inputs.some((input) => input.input === edge.targetInput)) {
      throw new RigflowError(
        "EDGE_INPUT_CONFLICT",
        `edge ${index}: input '${edge.targetInput}' of node '${target.id}' is already fed by another edge`,
        { ...where, node_id: target.id, target_input: edge.targetInput },
      );
    }
    target.inputs.push({ input: edge.targetInput, sourceNode: source.id, sourceOutput: edge.sourceOutput });
  });
}

function checkParams(node: PlanNode, fn: FunctionContract, limits: Limits): void {
  const bytes = Buffer.byteLength(JSON.stringify(node.params));
  if (bytes > limits.maxParamsBytes) {
    throw new RigflowError(
      "PARAMS_TOO_LARGE",
      `node '${node.id}': params are ${bytes} bytes; the limit is ${limits.maxParamsBytes}`,
      { node_id: node.id, bytes, limit: limits.maxParamsBytes },
    );
  }
  // Inputs fed by an edge arrive at run time; they are checked again, in full, before the command.
  const parsed = paramsSchemaGiven(
    fn,
    node.inputs.map((input) => input.input),
  ).safeParse(node.params);
  if (!parsed.success) {
    const error = shapeError("PARAMS_INVALID", parsed.error, `node '${node.id}' (${node.functionId}) params`);
    throw new RigflowError(error.code, error.message, {
      node_id: node.id,
      function_id: node.functionId,
      ...error.details,
    });
  }
}

/** Turns a zod failure into one error that names where the first problem is. */
export function shapeError(
  code: "PIPELINE_INVALID" | "PARAMS_INVALID" | "VALIDATION_FAILED" | "QUERY_INVALID",
  error: z.ZodError,
  what: string,
): RigflowError {
  const issues = error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
  const first = issues[0] ?? { path: "", message: "invalid" };
  return new RigflowError(code, `${what}${first.path ? `.${first.path}` : ""}: ${first.message}`, { issues });
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((part, index) =>
      typeof part === "number" ? `[${part}]` : `${index === 0 ? "" : "."}${String(part)}`,
    )
    .join("");
}

/**
 * The function's parameter schema with the inputs fed by edges made optional. Cached: zod compiles a
 * schema on its first use, which costs far more than checking params with it.
 */
const partialSchemas = new WeakMap<FunctionContract, Map<string, z.ZodObject>>();
function paramsSchemaGiven(fn: FunctionContract, fedByEdges: readonly string[]): z.ZodObject {
  if (fedByEdges.length === 0) return fn.params;
  const key = [...fedByEdges].sort().join(",");
  const cache = partialSchemas.get(fn) ?? new Map<string, z.ZodObject>();
  partialSchemas.set(fn, cache);
  let schema = cache.get(key);
  if (!schema) {
    schema = fn.params.partial(Object.fromEntries(fedByEdges.map((input) => [input, true])) as never);
    cache.set(key, schema);
  }
  return schema;
}
