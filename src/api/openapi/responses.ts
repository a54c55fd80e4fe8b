import { z } from "zod";
import { errorCodes, nodeStatuses, runStatuses } from "../../engine/index.js";

// The API's answers, as zod schemas: the OpenAPI document describes them (document.ts), and the
// tests check the answers they see against them. Objects are loose (a field added later is no
// break); the fields named are those the contract promises.

const time = z.string().describe("ISO 8601");
const nullableTime = time.nullable();
const anyObject = z.record(z.string(), z.unknown());

export const errorResponse = z
  .object({
    error: z.object({
      code: z.enum(Object.keys(errorCodes) as [string, ...string[]]),
      message: z.string(),
      details: anyObject,
    }),
  })
  .meta({ id: "Error" });

const nodeError = z.looseObject({ code: z.string(), message: z.string() }).nullable();

export const nodeView = z
  .looseObject({
    node_id: z.string(),
    device_id: z.string().nullable().describe("null for an approval node"),
    function_id: z.string(),
    type: z.literal("approval").optional(),
    status: z.enum(nodeStatuses),
    attempts: z.number(),
    outputs: anyObject.nullable(),
    error: nodeError,
    started_at: nullableTime,
    finished_at: nullableTime,
    execution_time: z.number().nullable(),
    completed_by: z.literal("operator").optional(),
    approval: z
      .object({ message: z.string(), outputs: z.record(z.string(), z.string()), timeout_at: nullableTime })
      .optional(),
  })
  .meta({ id: "Node" });

// Every status, each with its count (a record on an enum asks for every key).
const nodeCounts = z.record(z.enum(nodeStatuses), z.number());

/** A run as the runs list shows it; the run's own record adds its timings, error and nodes. */
const runSummaryFields = {
  run_id: z.string(),
  pipeline_id: z.string(),
  pipeline_version: z.number().nullable(),
  status: z.enum(runStatuses),
  created_at: time,
  finished_at: nullableTime,
};

export const runSummary = z.looseObject(runSummaryFields).meta({ id: "RunSummary" });

export const runView = z
  .looseObject({
    ...runSummaryFields,
    started_at: nullableTime,
    execution_time: z.number().nullable(),
    error: z
      .looseObject({ code: z.string(), message: z.string(), node_id: z.string().nullable() })
      .nullable(),
    node_count: z.number(),
    node_counts: nodeCounts,
    nodes: z.record(z.string(), nodeView).nullable().describe("null past 1,000 nodes: page them"),
  })
  .meta({ id: "Run" });

export const runAccepted = z.looseObject({
  run_id: z.string(),
  status: z.enum(runStatuses),
  pipeline_id: z.string(),
});

export const runList = z.looseObject({ runs: z.array(runSummary), next_cursor: z.string().nullable() });
export const nodePage = z.looseObject({ nodes: z.array(nodeView), next_cursor: z.string().nullable() });

export const runEvent = z
  .looseObject({
    type: z.string(),
    run_id: z.string(),
    pipeline_id: z.string(),
    timestamp: time,
    event_id: z.string(),
  })
  .meta({ id: "RunEvent", description: "Every event type and its fields: docs/contract.md, Events" });

export const eventPage = z.looseObject({
  events: z.array(runEvent),
  next_after: z.string().nullable(),
  expired: z.boolean(),
});

/** What cancel, pause, resume, retry and recover answer: the run's status now, and what was asked. */
export const runAction = z.looseObject({ run_id: z.string(), status: z.enum(runStatuses) });

export const decision = z.looseObject({
  run_id: z.string(),
  node_id: z.string(),
  decision: z.enum(["approve", "reject"]),
  node_status: z.enum(nodeStatuses),
  status: z.enum(runStatuses),
});

export const seedExecuteResult = z.looseObject({
  success: z.boolean(),
  run_id: z.string(),
  pipeline_id: z.string(),
  status: z.enum(runStatuses),
  execution_time: z.number(),
  nodes_executed: z.number(),
  results: z.record(z.string(), z.looseObject({ node_id: z.string(), status: z.enum(nodeStatuses) })),
});

export const pipelineSaved = z.looseObject({ pipeline: anyObject, version: z.number() });
export const pipelineStored = z.looseObject({ id: z.string(), version: z.number(), updated_at: time });
export const pipelineList = z.looseObject({ pipelines: z.array(anyObject) });

export const devices = z.looseObject({
  devices: z.array(z.looseObject({ device_id: z.string(), driver: z.string(), status: z.string() })),
});
export const functions = z.looseObject({ drivers: z.array(anyObject) });

export const queue = z.looseObject({
  name: z.string(),
  counts: z.record(z.string(), z.number()),
  paused: z.boolean(),
});
export const queueList = z.looseObject({ queues: z.array(queue) });
export const job = z.looseObject({
  job_id: z.string(),
  queue: z.string(),
  name: z.string(),
  state: z.string(),
  run_id: z.string().nullable(),
  node_id: z.string().nullable(),
});
export const jobList = z.looseObject({ jobs: z.array(job) });
export const jobAction = z.looseObject({ queue: z.string(), job_id: z.string(), action: z.string() });
export const cleaned = z.looseObject({ queue: z.string() });

export const me = z.looseObject({ actor: z.string(), role: z.string(), via: z.string() });
export const auditPage = z.looseObject({ entries: z.array(anyObject), next_after: z.string().nullable() });
export const health = z.looseObject({ status: z.string() });
export const graph = z.looseObject({
  run_id: z.string(),
  nodes: z.array(anyObject),
  edges: z.array(anyObject),
});
