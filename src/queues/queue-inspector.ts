import type { Job, Queue } from "bullmq";
import {
  deviceQueueName,
  isOutputsRecorded,
  RigflowError,
  runsQueueName,
  type DeviceCatalog,
  type QueueSet,
} from "../engine/index.js";
import { describeJob, jobStates, type JobRecord, type JobState } from "./job-record.js";

export interface QueueOverview {
  name: string;
  /** The device whose queue it is; null for the runs queue. */
  deviceId: string | null;
  /** The device's capacity in the devices file (what its workers set the global concurrency to). */
  capacity: number | null;
  counts: Record<JobState, number>;
  paused: boolean;
  /** As set in Redis (workers re-assert it every 30 s); null when none is set. */
  globalConcurrency: number | null;
}

export interface JobDetail extends JobRecord {
  logs: string[];
  logCount: number;
}

/** A job found by queue and id, with its state as listed here (see jobStates). */
export interface FoundJob {
  name: string;
  queue: Queue;
  job: Job;
  state: JobState | "unknown";
}

type BullState = Exclude<JobState, "paused">;
const bullStates = jobStates.filter((state): state is BullState => state !== "paused");

/** How many log lines a job's detail shows, newest last. */
const maxLogLines = 200;

/**
 * What may name a job here: any id BullMQ allows (its own numbers, Rigflow's run and node ids,
 * custom ids added by hand: letters, digits, `.`, `-`, `_`, `@` and so on), up to 300 characters,
 * without `:` (BullMQ's key separator, so that an id names one key of its queue and no key beside
 * it such as `<id>:logs` or `<id>:lock`), whitespace or control characters.
 */
const jobIdPattern = /^[^:\s\p{Cc}]{1,300}$/u;

/** The fields BullMQ writes on every job it adds (storeJob.lua); a key without them is no job. */
const jobFields = ["name", "data", "timestamp"] as const;

/**
 * Reads BullMQ's queues for the inspection API: the runs queue and each device's queue of the
 * devices file (even empty ones), their counts, jobs by state with paging, one job in full. Any
 * other name is not a queue here, so a request never reaches another key of Redis.
 */
export class QueueInspector {
  constructor(
    /** Every queue, for the actions that follow an inspection (QueueActions). */
    readonly queues: QueueSet,
    private readonly catalog: DeviceCatalog,
    /** A completed node's outputs as its run recorded them (null once the run is gone). */
    private readonly recordedOutputs: (
      nodes: readonly { runId: string; nodeId: string }[],
    ) => Promise<unknown[]>,
  ) {}

  names(): string[] {
    return [runsQueueName, ...this.catalog.devices().map((device) => deviceQueueName(device.id))];
  }

  /** The queue of that name; QUEUE_NOT_FOUND unless it is one of names(). */
  queue(name: string): Queue {
    if (!this.names().includes(name)) {
      throw new RigflowError(
        "QUEUE_NOT_FOUND",
        `no queue '${name.slice(0, 80)}'; the queues are ${this.names().join(", ")}`,
        { queue: name.slice(0, 80) },
      );
    }
    return this.queues.get(name);
  }

  overview(): Promise<QueueOverview[]> {
    return Promise.all(this.names().map((name) => this.overviewOf(name)));
  }

  async overviewOf(name: string): Promise<QueueOverview> {
    const queue = this.queue(name);
    const [counts, paused, globalConcurrency] = await Promise.all([
      queue.getJobCounts(...bullStates),
      queue.isPaused(),
      queue.getGlobalConcurrency(),
    ]);
    const device = this.catalog.devices().find((entry) => deviceQueueName(entry.id) === name);
    const shown = Object.fromEntries(jobStates.map((state) => [state, counts[state] ?? 0])) as Record<
      JobState,
      number
    >;
    if (paused) [shown.paused, shown.waiting] = [shown.waiting, 0];
    return {
      name,
      deviceId: device?.id ?? null,
      capacity: device?.capacity ?? null,
      counts: shown,
      paused,
      globalConcurrency,
    };
  }

  /** Jobs in one state, newest first, from index `start` to `end` (inclusive), and how many there are. */
  async jobs(
    name: string,
    state: JobState,
    start: number,
    end: number,
  ): Promise<{ total: number; jobs: JobRecord[] }> {
    const queue = this.queue(name);
    const source = listedAs(state, await queue.isPaused());
    if (source === null) return { total: 0, jobs: [] };
    const [total, jobs] = await Promise.all([
      queue.getJobCountByTypes(source),
      queue.getJobs([source], start, end, false),
    ]);
    return {
      total,
      jobs: await this.withOutputs(jobs.map((job) => describeJob(this.where(name), job, state))),
    };
  }

  /** The job, or JOB_NOT_FOUND (QUEUE_NOT_FOUND first for a queue that is not one of names()). */
  async find(name: string, jobId: string): Promise<FoundJob> {
    const queue = this.queue(name);
    const job = await lookUp(queue, jobId);
    if (!job) {
      throw new RigflowError("JOB_NOT_FOUND", `no job '${jobId.slice(0, 200)}' in queue '${name}'`, {
        queue: name,
        job_id: jobId.slice(0, 200),
      });
    }
    const [state, paused] = await Promise.all([job.getState(), queue.isPaused()]);
    const shown = state === "waiting" && paused ? "paused" : (state as JobState | "unknown");
    return { name, queue, job, state: shown };
  }

  async job(name: string, jobId: string): Promise<JobDetail> {
    const { queue, job, state } = await this.find(name, jobId);
    const { logs, count } = await queue.getJobLogs(jobId, -maxLogLines, -1, true);
    const [record] = await this.withOutputs([describeJob(this.where(name), job, state)]);
    return { ...(record as JobRecord), logs, logCount: count };
  }

  /** Completed node jobs show the outputs their runs recorded (see outputsRecorded). */
  private async withOutputs(records: JobRecord[]): Promise<JobRecord[]> {
    const nodeJobs = records.filter(
      (record) => record.owner.kind === "node" && isOutputsRecorded(record.returnValue),
    );
    if (nodeJobs.length === 0) return records;
    const outputs = await this.recordedOutputs(
      nodeJobs.map(({ owner }) => (owner.kind === "node" ? owner : { runId: "", nodeId: "" })),
    );
    nodeJobs.forEach((record, index) => {
      record.returnValue = outputs[index] ?? null;
    });
    return records;
  }

  private where(name: string) {
    return { name, prefix: this.queues.prefix };
  }
}

/** Where BullMQ keeps the jobs shown in a state; null when there can be none. */
function listedAs(state: JobState, paused: boolean): BullState | null {
  if (state === "paused") return paused ? "waiting" : null;
  if (state === "waiting") return paused ? null : "waiting";
  return state;
}

/**
 * The job of that id in the queue, or undefined. A job is a hash at `<prefix>:<queue>:<id>` with
 * the fields BullMQ writes on every job; BullMQ's getJob takes any non-empty hash for one, so
 * without this an id such as `meta` would read (and a remove delete) the queue's own meta hash,
 * where its pause and global concurrency live. BullMQ's own key names are refused outright, and
 * a key of another type (`wait`, `events`, `id`…) answers WRONGTYPE, which means no job too.
 */
async function lookUp(queue: Queue, jobId: string): Promise<Job | undefined> {
  if (!jobIdPattern.test(jobId) || bullKeyNames(queue).has(jobId)) return undefined;
  try {
    const client = await queue.getBackend().client;
    const fields = await client.hmget(queue.toKey(jobId), ...jobFields);
    if (fields.some((value) => value === null)) return undefined;
    return await queue.getJob(jobId);
  } catch (error) {
    if (isWrongType(error)) return undefined;
    throw error;
  }
}

/** BullMQ's own keys of a queue by name: `meta`, `events`, `wait`, `id`… (and older BullMQs' `priority`). */
function bullKeyNames(queue: Queue): Set<string> {
  return new Set([...Object.keys(queue.keys), "priority", "metrics"]);
}

const isWrongType = (error: unknown) => error instanceof Error && error.message.startsWith("WRONGTYPE");
