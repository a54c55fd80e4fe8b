import type { Job } from "bullmq";
import { approvalJobName, runsQueueName } from "../engine/index.js";

/**
 * The states a job is listed and counted by. BullMQ 6 keeps the jobs of a paused queue in its wait
 * list (and calls them waiting); here they are `paused`, as Bull-board showed them, since a paused
 * queue's waiting jobs will not start until it is resumed.
 */
export const jobStates = [
  "waiting",
  "active",
  "delayed",
  "prioritized",
  "waiting-children",
  "completed",
  "failed",
  "paused",
] as const;

export type JobState = (typeof jobStates)[number];

/** Whose job it is, read from its queue and data: what the ledger's rules need to know of it. */
export type JobOwner =
  | { kind: "run"; runId: string }
  | { kind: "timeout"; runId: string; epoch: number }
  | { kind: "node"; runId: string; nodeId: string; epoch: number }
  /** Not one Rigflow added (added by hand, say): no run to keep consistent. */
  | { kind: "other" };

/** A job as the inspection API shows it. Times are ISO strings. */
export interface JobRecord {
  id: string;
  queue: string;
  name: string;
  state: JobState | "unknown";
  data: unknown;
  returnValue: unknown;
  failedReason: string | null;
  stacktrace: string[];
  attemptsMade: number;
  /** Attempts in all that BullMQ allows the job. */
  attempts: number;
  progress: unknown;
  delayMs: number;
  createdAt: string | null;
  processedAt: string | null;
  finishedAt: string | null;
  parent: { id: string; queue: string } | null;
  owner: JobOwner;
}

export function jobOwner(queueName: string, job: Job): JobOwner {
  const data: Record<string, unknown> =
    typeof job.data === "object" && job.data !== null ? (job.data as Record<string, unknown>) : {};
  const runId = typeof data.runId === "string" ? data.runId : undefined;
  if (runId === undefined) return { kind: "other" };
  // An approval node's job lives in the runs queue (it has no device) and is a node's as any other.
  if (queueName === runsQueueName && job.name !== approvalJobName) {
    if (job.name === "timeout") return { kind: "timeout", runId, epoch: Number(data.epoch ?? 0) };
    return { kind: "run", runId };
  }
  if (typeof data.nodeId === "string" && typeof data.epoch === "number") {
    return { kind: "node", runId, nodeId: data.nodeId, epoch: data.epoch };
  }
  return { kind: "other" };
}

export function describeJob(
  queue: { name: string; prefix: string },
  job: Job,
  state: JobState | "unknown",
): JobRecord {
  const queueName = queue.name;
  const parent = job.parent ?? null;
  // A parent's queue key is "<prefix>:<queue name>".
  const parentQueue = parent?.queueKey.startsWith(`${queue.prefix}:`)
    ? parent.queueKey.slice(queue.prefix.length + 1)
    : parent?.queueKey;
  return {
    id: job.id ?? "",
    queue: queueName,
    name: job.name,
    state,
    data: job.data,
    returnValue: job.returnvalue ?? null,
    failedReason: job.failedReason || null,
    stacktrace: job.stacktrace ?? [],
    attemptsMade: job.attemptsMade,
    attempts: job.opts.attempts ?? 1,
    progress: job.progress,
    delayMs: job.delay ?? 0,
    createdAt: iso(job.timestamp),
    processedAt: iso(job.processedOn),
    finishedAt: iso(job.finishedOn),
    parent: parent && { id: parent.id ?? "", queue: parentQueue ?? "" },
    owner: jobOwner(queueName, job),
  };
}

const iso = (ms: number | undefined | null) => (ms ? new Date(ms).toISOString() : null);
