import type { JobDetail, JobRecord, QueueOverview } from "../queues/index.js";
import { runPagePath } from "./run-page.js";

// The queue inspection API's half of wire.ts: the engine's camelCase becomes the wire's snake_case.

export function queueView(queue: QueueOverview) {
  return {
    name: queue.name,
    device_id: queue.deviceId,
    capacity: queue.capacity,
    paused: queue.paused,
    global_concurrency: queue.globalConcurrency,
    counts: queue.counts,
  };
}

export function jobView(job: JobRecord) {
  const owner = job.owner;
  const runId = owner.kind === "other" ? null : owner.runId;
  const nodeId = owner.kind === "node" ? owner.nodeId : null;
  return {
    job_id: job.id,
    queue: job.queue,
    name: job.name,
    kind: owner.kind,
    state: job.state,
    run_id: runId,
    node_id: nodeId,
    epoch: owner.kind === "node" || owner.kind === "timeout" ? owner.epoch : null,
    run_url: runId === null ? null : runPagePath(runId, nodeId),
    data: job.data,
    return_value: job.returnValue,
    failed_reason: job.failedReason,
    attempts_made: job.attemptsMade,
    attempts: job.attempts,
    progress: job.progress,
    delay_ms: job.delayMs,
    created_at: job.createdAt,
    processed_at: job.processedAt,
    finished_at: job.finishedAt,
    parent: job.parent && { job_id: job.parent.id, queue: job.parent.queue },
  };
}

export function jobDetailView(job: JobDetail) {
  return { ...jobView(job), stacktrace: job.stacktrace, logs: job.logs, log_count: job.logCount };
}
