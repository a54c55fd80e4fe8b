import { z } from "zod";
import { maxDelayMs, retryPolicyProblem, type RetryPolicy } from "./retry.js";

/** Ids clients choose (pipeline, node, device): safe in Redis keys and BullMQ job ids. */
export const idSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 letters, digits, '_' or '-'");

const retrySchema = z
  .object({
    attempts: z.number().int().min(1).max(100),
    backoff_ms: z.number().int().min(0).max(maxDelayMs).default(0),
    backoff: z.enum(["fixed", "exponential"]).default("fixed"),
    max_backoff_ms: z.number().int().min(1).max(maxDelayMs).optional(),
    jitter: z.boolean().default(false),
  })
  .strict()
  .superRefine((retry, ctx) => {
    const problem = retryPolicyProblem(toRetryPolicy(retry));
    if (problem) ctx.addIssue({ code: "custom", path: [problem.field], message: problem.message });
  });

function toRetryPolicy(retry: z.output<typeof retrySchema>): RetryPolicy {
  return {
    attempts: retry.attempts,
    backoffMs: retry.backoff_ms,
    backoff: retry.backoff,
    ...(retry.max_backoff_ms !== undefined && { maxBackoffMs: retry.max_backoff_ms }),
    jitter: retry.jitter,
  };
}

/** The most an editor's `ui` object may hold, as JSON. */
export const maxUiBytes = 4096;

/**
 * What a node editor needs and the engine never reads (positions, colours, notes): any JSON object
 * up to 4 KB, on the pipeline and on each node, stored and returned as sent.
 */
const uiSchema = z
  .record(z.string(), z.unknown())
  .refine((ui) => Buffer.byteLength(JSON.stringify(ui)) <= maxUiBytes, {
    message: `must be at most ${maxUiBytes} bytes as JSON`,
  });

/** What a node's last failed attempt does: fail the run (the default), or hold for a person. */
const onFailureSchema = z.enum(["fail", "hold"]);

const deviceNodeSchema = z.strictObject({
  id: idSchema,
  type: z.literal("device").default("device"),
  device_id: idSchema,
  function_id: idSchema,
  params: z.record(z.string(), z.unknown()).default({}),
  retry: retrySchema.optional(),
  timeout_ms: z.number().int().min(1).max(86_400_000).optional(),
  on_failure: onFailureSchema.optional(),
  ui: uiSchema.optional(),
});

/** The types an approval's output may declare, checked when a person approves it. */
export const approvalOutputTypes = ["string", "number", "boolean"] as const;
export type ApprovalOutputType = (typeof approvalOutputTypes)[number];

/** The longest an approval may wait, as a run may (7 days); the run's own timeout still applies. */
export const maxApprovalTimeoutMs = 7 * 86_400_000;

/**
 * A step that waits for a person (POST .../approve or .../reject) rather than driving a device:
 * "Load the plate, then approve". Its outputs are what the person gives, and flow along its edges.
 */
const approvalNodeSchema = z.strictObject({
  id: idSchema,
  type: z.literal("approval"),
  message: z.string().min(1).max(2000),
  /** Output names (any JSON value each), or each name mapped to its type. */
  outputs: z
    .union([
      z.array(z.string().min(1).max(128)).max(64),
      z.record(z.string().min(1).max(128), z.enum(approvalOutputTypes)),
    ])
    .optional(),
  /** Past this long waiting, it fails APPROVAL_TIMEOUT. Without it, it waits as long as the run may. */
  timeout_ms: z.number().int().min(1).max(maxApprovalTimeoutMs).optional(),
  on_failure: onFailureSchema.optional(),
  ui: uiSchema.optional(),
});

const nodeSchema = z.discriminatedUnion("type", [deviceNodeSchema, approvalNodeSchema]);

const edgeSchema = z.strictObject({
  source: idSchema,
  target: idSchema,
  source_output: z.string().min(1).max(128).optional(),
  target_input: z.string().min(1).max(128).optional(),
});

/** The whole run's time limit, from submission (or resume): past it the run fails RUN_TIMEOUT. */
export const runTimeoutSchema = z
  .number()
  .int()
  .min(1)
  .max(7 * 86_400_000);

/**
 * The pipeline document as clients send and get it: only the fields the contract defines, so what
 * is stored is what runs (an editor's own data goes in `ui`). The document is stored as sent.
 */
export const pipelineDocumentSchema = z.strictObject({
  id: idSchema,
  name: z.string().max(256).default(""),
  nodes: z.array(nodeSchema).min(1, "a pipeline needs at least one node"),
  edges: z.array(edgeSchema).default([]),
  /** Hold each device the run uses from its first node there to its last: no other run interleaves. */
  reserve_devices: z.boolean().default(false),
  timeout_ms: runTimeoutSchema.optional(),
  /** Every node's `on_failure` unless it says its own. */
  on_failure: onFailureSchema.default("fail"),
  ui: uiSchema.optional(),
});

export type PipelineDocument = z.input<typeof pipelineDocumentSchema>;
type ParsedDocument = z.output<typeof pipelineDocumentSchema>;

/** What an approval node declares: the person's prompt and the outputs they give ("any": untyped). */
export interface ApprovalSpec {
  message: string;
  outputs: Record<string, ApprovalOutputType | "any">;
}

export interface PipelineNode {
  id: string;
  /** "" for an approval node, which has no device. */
  deviceId: string;
  functionId: string;
  params: Record<string, unknown>;
  retry?: RetryPolicy;
  timeoutMs?: number;
  onFailure: "fail" | "hold";
  /** Set on an approval node (type "approval"): it waits for a person, on no device. */
  approval?: ApprovalSpec;
}

export interface PipelineEdge {
  source: string;
  target: string;
  sourceOutput?: string;
  targetInput?: string;
}

export interface Pipeline {
  id: string;
  name: string;
  nodes: PipelineNode[];
  edges: PipelineEdge[];
  reserveDevices: boolean;
  timeoutMs?: number;
}

/** The one place the document's snake_case fields become the domain's camelCase. */
export function toPipeline(document: ParsedDocument): Pipeline {
  return {
    id: document.id,
    name: document.name,
    reserveDevices: document.reserve_devices,
    ...(document.timeout_ms !== undefined && { timeoutMs: document.timeout_ms }),
    nodes: document.nodes.map((node) =>
      node.type === "approval"
        ? {
            id: node.id,
            deviceId: "",
            functionId: approvalFunctionId,
            params: {},
            ...(node.timeout_ms !== undefined && { timeoutMs: node.timeout_ms }),
            onFailure: node.on_failure ?? document.on_failure,
            approval: { message: node.message, outputs: approvalOutputs(node.outputs) },
          }
        : {
            id: node.id,
            deviceId: node.device_id,
            functionId: node.function_id,
            params: node.params,
            ...(node.retry && { retry: toRetryPolicy(node.retry) }),
            ...(node.timeout_ms !== undefined && { timeoutMs: node.timeout_ms }),
            onFailure: node.on_failure ?? document.on_failure,
          },
    ),
    edges: document.edges.map((edge) => ({
      source: edge.source,
      target: edge.target,
      ...(edge.source_output !== undefined && { sourceOutput: edge.source_output }),
      ...(edge.target_input !== undefined && { targetInput: edge.target_input }),
    })),
  };
}

/** An approval node's function, as events and node states name it: it has no device's function. */
export const approvalFunctionId = "approval";

function approvalOutputs(
  outputs: string[] | Record<string, ApprovalOutputType> | undefined,
): Record<string, ApprovalOutputType | "any"> {
  if (outputs === undefined) return {};
  if (Array.isArray(outputs)) return Object.fromEntries(outputs.map((name) => [name, "any" as const]));
  return { ...outputs };
}
