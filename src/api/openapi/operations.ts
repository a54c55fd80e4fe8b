import type { z } from "zod";
import { pipelineDocumentSchema } from "../../engine/index.js";
import { auditQuerySchema } from "../routes/access.js";
import { querySchema as executeQuerySchema } from "../routes/execute.js";
import { listQuerySchema as pipelineListQuerySchema } from "../routes/pipelines.js";
import { cleanBodySchema, listQuerySchema as jobListQuerySchema } from "../routes/queues.js";
import { pageQuerySchema, streamQuerySchema } from "../routes/run-events.js";
import { runBodySchema } from "../routes/run-request.js";
import {
  approveBodySchema,
  listQuerySchema as runListQuerySchema,
  nodesQuerySchema,
  pauseBodySchema,
  recoverBodySchema,
  rejectBodySchema,
} from "../routes/runs.js";
import * as answer from "./responses.js";

/** One route as the OpenAPI document describes it; its schemas are the ones the route validates with. */
export interface Operation {
  method: "get" | "post" | "delete";
  /** In OpenAPI's form: `/api/runs/{runId}`. */
  path: string;
  summary: string;
  tag: "runs" | "pipelines" | "devices" | "queues" | "access" | "health" | "dashboard";
  query?: z.ZodType;
  body?: z.ZodType;
  /** Sends an Idempotency-Key header the route reads. */
  idempotent?: boolean;
  /** Status -> the answer's schema, or a description for a body that is not JSON. */
  responses: Record<number, z.ZodType | string>;
  /** Open to every caller, with no credential (probes, the document itself). */
  open?: boolean;
}

const runId = "/api/runs/{runId}";
const node = `${runId}/nodes/{nodeId}`;
const queue = "/api/queues/{name}";
const job = `${queue}/jobs/{jobId}`;

export const operations: readonly Operation[] = [
  {
    method: "get",
    path: "/healthz",
    summary: "The process is up",
    tag: "health",
    open: true,
    responses: { 200: answer.health },
  },
  {
    method: "get",
    path: "/readyz",
    summary: "Redis answers",
    tag: "health",
    open: true,
    responses: { 200: answer.health },
  },
  {
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics (text format)",
    tag: "health",
    open: true,
    responses: { 200: "text/plain; version=0.0.4: the metrics of docs/queues.md" },
  },
  {
    method: "post",
    path: "/api/pipelines/execute",
    summary: "Run a pipeline document and wait for its end (the seed's call)",
    tag: "runs",
    query: executeQuerySchema,
    body: pipelineDocumentSchema,
    responses: { 200: answer.seedExecuteResult, 202: answer.runAccepted },
  },
  {
    method: "post",
    path: "/api/pipelines/save",
    summary: "Save a pipeline document (a new version if its id exists)",
    tag: "pipelines",
    body: pipelineDocumentSchema,
    responses: { 200: answer.pipelineSaved, 201: answer.pipelineSaved },
  },
  {
    method: "get",
    path: "/api/pipelines",
    summary: "Saved pipelines, by id",
    tag: "pipelines",
    query: pipelineListQuerySchema,
    responses: { 200: answer.pipelineList },
  },
  {
    method: "get",
    path: "/api/pipelines/{id}",
    summary: "A saved pipeline",
    tag: "pipelines",
    responses: { 200: answer.pipelineStored },
  },
  {
    method: "delete",
    path: "/api/pipelines/{id}",
    summary: "Delete a saved pipeline (its runs keep their copy)",
    tag: "pipelines",
    responses: { 204: "deleted" },
  },
  {
    method: "post",
    path: "/api/runs",
    summary: "Submit a run of a saved pipeline or of a document",
    tag: "runs",
    body: runBodySchema,
    idempotent: true,
    responses: { 200: answer.runAccepted, 202: answer.runAccepted },
  },
  {
    method: "get",
    path: "/api/runs",
    summary: "Runs, newest first",
    tag: "runs",
    query: runListQuerySchema,
    responses: { 200: answer.runList },
  },
  {
    method: "get",
    path: runId,
    summary: "A run, its node counts and nodes",
    tag: "runs",
    responses: { 200: answer.runView },
  },
  {
    method: "get",
    path: `${runId}/nodes`,
    summary: "A run's nodes by pages, in plan order",
    tag: "runs",
    query: nodesQuerySchema,
    responses: { 200: answer.nodePage },
  },
  {
    method: "post",
    path: `${runId}/cancel`,
    summary: "Cancel a run",
    tag: "runs",
    responses: { 202: answer.runAction },
  },
  {
    method: "post",
    path: `${runId}/pause`,
    summary: "Pause a run (deferred, or immediate)",
    tag: "runs",
    body: pauseBodySchema,
    responses: { 202: answer.runAction },
  },
  {
    method: "post",
    path: `${runId}/resume`,
    summary: "Resume a paused run",
    tag: "runs",
    responses: { 202: answer.runAction },
  },
  {
    method: "post",
    path: `${runId}/retry`,
    summary: "Resume a failed or cancelled run from where it failed",
    tag: "runs",
    responses: { 202: answer.runAction },
  },
  {
    method: "post",
    path: `${node}/recover`,
    summary: "A person's decision on a held node: retry, skip or complete",
    tag: "runs",
    body: recoverBodySchema,
    idempotent: true,
    responses: { 202: answer.runAction },
  },
  {
    method: "post",
    path: `${node}/approve`,
    summary: "Approve a waiting approval node, with its outputs",
    tag: "runs",
    body: approveBodySchema,
    idempotent: true,
    responses: { 202: answer.decision },
  },
  {
    method: "post",
    path: `${node}/reject`,
    summary: "Reject a waiting approval node",
    tag: "runs",
    body: rejectBodySchema,
    idempotent: true,
    responses: { 202: answer.decision },
  },
  {
    method: "get",
    path: `${runId}/events`,
    summary: "A run's events, oldest first, after an event id",
    tag: "runs",
    query: pageQuerySchema,
    responses: { 200: answer.eventPage },
  },
  {
    method: "get",
    path: `${runId}/events/stream`,
    summary: "A run's events as Server-Sent Events (Last-Event-ID resumes)",
    tag: "runs",
    query: streamQuerySchema,
    responses: { 200: "text/event-stream: one event a message, its id the event_id (docs/events.md)" },
  },
  {
    method: "get",
    path: "/api/devices",
    summary: "Devices and their live state",
    tag: "devices",
    responses: { 200: answer.devices },
  },
  {
    method: "get",
    path: "/api/functions",
    summary: "Every driver's functions",
    tag: "devices",
    responses: { 200: answer.functions },
  },
  {
    method: "get",
    path: "/api/queues",
    summary: "Every queue's counts by state",
    tag: "queues",
    responses: { 200: answer.queueList },
  },
  {
    method: "get",
    path: queue,
    summary: "One queue's counts by state",
    tag: "queues",
    responses: { 200: answer.queue },
  },
  {
    method: "get",
    path: `${queue}/jobs`,
    summary: "A queue's jobs in one state, by pages",
    tag: "queues",
    query: jobListQuerySchema,
    responses: { 200: answer.jobList },
  },
  { method: "get", path: job, summary: "One job", tag: "queues", responses: { 200: answer.job } },
  {
    method: "post",
    path: `${job}/retry`,
    summary: "Retry a failed job (or resume its run)",
    tag: "queues",
    responses: { 200: answer.jobAction, 202: answer.jobAction },
  },
  {
    method: "post",
    path: `${job}/remove`,
    summary: "Remove a job the runs no longer need",
    tag: "queues",
    responses: { 200: answer.jobAction },
  },
  {
    method: "post",
    path: `${job}/promote`,
    summary: "Run a delayed job now",
    tag: "queues",
    responses: { 200: answer.jobAction },
  },
  {
    method: "post",
    path: `${queue}/pause`,
    summary: "Pause a queue",
    tag: "queues",
    responses: { 200: answer.queue },
  },
  {
    method: "post",
    path: `${queue}/resume`,
    summary: "Resume a queue",
    tag: "queues",
    responses: { 200: answer.queue },
  },
  {
    method: "post",
    path: `${queue}/clean`,
    summary: "Remove finished jobs older than a grace period",
    tag: "queues",
    body: cleanBodySchema,
    responses: { 200: answer.cleaned },
  },
  {
    method: "get",
    path: "/api/me",
    summary: "Who the caller is",
    tag: "access",
    responses: { 200: answer.me },
  },
  {
    method: "get",
    path: "/api/audit",
    summary: "The audit log, oldest first (operators)",
    tag: "access",
    query: auditQuerySchema,
    responses: { 200: answer.auditPage },
  },
  {
    method: "post",
    path: "/login",
    summary: "Sign in with a token (a form post): a session cookie",
    tag: "access",
    open: true,
    responses: { 303: "to the page asked for, with the session cookie" },
  },
  {
    method: "get",
    path: "/logout",
    summary: "The sign-out page",
    tag: "access",
    open: true,
    responses: { 200: "text/html" },
  },
  {
    method: "post",
    path: "/logout",
    summary: "Sign out: the session ends",
    tag: "access",
    open: true,
    responses: { 303: "to /login" },
  },
  {
    method: "get",
    path: "/dashboard/api/runs/{runId}/graph",
    summary: "A run's DAG as it ran (the dashboard's)",
    tag: "dashboard",
    responses: { 200: answer.graph },
  },
  {
    method: "get",
    path: "/openapi.json",
    summary: "This document",
    tag: "health",
    open: true,
    responses: { 200: "application/json: OpenAPI 3.1" },
  },
];
