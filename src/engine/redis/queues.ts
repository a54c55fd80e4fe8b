import { Job, Queue } from "bullmq";
import type { Redis } from "ioredis";
import type { PlanNode } from "../pipeline/plan.js";
import type { RetryPolicy } from "../pipeline/retry.js";
import { nodeBackoff } from "./node-backoff.js";

/** The queue whose jobs are runs: each run job is the parent of its node jobs. */
export const runsQueueName = "runs";

/** One queue per device, so that a device's capacity is a queue's global concurrency. */
export const deviceQueueName = (deviceId: string) => `device-${deviceId}`;

/**
 * A node job's id is derived from the run, the run's epoch (bumped on each resume) and the node, so
 * that adding the same node job twice is a no-op. Run ids contain no "__" and an epoch is digits,
 * so the id reads back one way only, whatever "__" a node id holds.
 */
export const nodeJobId = (runId: string, nodeId: string, epoch: number) => `${runId}__${epoch}__${nodeId}`;

/**
 * What a completed node job returns to BullMQ: its outputs are in the run's record (and its
 * node_completed event), so BullMQ keeps no copy in the job and none in its run job's list of
 * children's values. The queue admin surface shows the recorded outputs in its place.
 */
export const outputsRecorded = { outputs: "recorded in the run" } as const;

export const isOutputsRecorded = (value: unknown): boolean =>
  typeof value === "object" &&
  value !== null &&
  (value as { outputs?: unknown }).outputs === outputsRecorded.outputs;

export interface NodeJobData {
  runId: string;
  pipelineId: string;
  nodeId: string;
  epoch: number;
  deviceId: string;
  functionId: string;
  params: Record<string, unknown>;
  inputs: PlanNode["inputs"];
  successors: string[];
  timeoutMs: number;
  idempotent: boolean;
  /** How many attempts, and how long to wait before each retry. */
  retry: RetryPolicy;
  /** "hold": the last failed attempt holds the node for a person (NodeLifecycle.fail). */
  onFailure?: "hold";
}

/** The runs queue's job for an approval node: it waits there, delayed, for a person (approval.ts). */
export const approvalJobName = "approval";

export interface RunJobData {
  runId: string;
  pipelineId: string;
  /** A run's timeout job only: the epoch whose time it limits (a resume starts a new one). */
  epoch?: number;
}

const week = 7 * 24 * 3600;

/**
 * How many ended jobs each queue keeps, for Bull-board and the queue API: the newest, a bounded
 * number per queue, not one per node ever run. A run's own record (node states, outputs, events)
 * is what keeps its history; a completed node job held a second copy of it (1.5 KB a node). Failed
 * ones are kept longer, for inspection; the retention sweeper removes a run's jobs with the run.
 */
export const keptJobs = { completed: 100, failed: 1000 };

export const nodeJobRetention = {
  removeOnComplete: { age: week, count: keptJobs.completed },
  removeOnFail: { age: 4 * week, count: keptJobs.failed },
};

const approvalJobOptions = {
  attempts: 20,
  backoff: { type: "exponential", delay: 500 },
  removeOnComplete: { age: week, count: 1000 },
  removeOnFail: { age: 4 * week, count: 1000 },
};

/**
 * Up to this many node jobs are added by a write each rather than in a pipeline: building an
 * ioredis pipeline (it copies every script command of the connection) cost 0.25 ms of CPU here,
 * a write 0.06-0.15 ms.
 */
const unpipelinedAdds = 3;

/** One Queue object per queue name, sharing one connection. */
export class QueueSet {
  private readonly queues = new Map<string, Queue>();

  constructor(
    private readonly connection: Redis,
    readonly prefix: string,
  ) {}

  get(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.connection, prefix: this.prefix });
      queue.on("error", () => undefined); // connection errors surface on the shared client's own listeners
      this.queues.set(name, queue);
    }
    return queue;
  }

  runs(): Queue<RunJobData> {
    return this.get(runsQueueName) as Queue<RunJobData>;
  }

  device(deviceId: string): Queue<NodeJobData> {
    return this.get(deviceQueueName(deviceId)) as Queue<NodeJobData>;
  }

  /** The queue of a node's job: its device's, or the runs queue for an approval (it has no device). */
  nodeQueue(node: PlanNode): Queue<NodeJobData> {
    return node.approval ? (this.runs() as unknown as Queue<NodeJobData>) : this.device(node.deviceId);
  }

  /**
   * Adds node jobs as children of their run job (a job whose id exists already is left alone),
   * then reads `read.field` of the hash `read.key`, and answers it. The read is sent on the shared
   * connection right behind the adds, without waiting for their answers: one round trip, and Redis
   * runs the read after every add. Several jobs go in one pipeline (one write; not a MULTI: an add
   * made again is a no-op, so a batch that Redis refused part-way is simply made again whole); a
   * few on a single server go without, each its own write, as an ioredis pipeline costs more to
   * build than a few writes.
   */
  async addNodeJobs(
    runId: string,
    jobs: readonly { node: PlanNode; data: NodeJobData }[],
    read: { key: string; field: string },
  ): Promise<string | null> {
    // Every queue shares the connection, and BullMQ's scripts are loaded on it once it is ready.
    const client = await this.runs().getBackend().client;
    // All built before any is sent, so that none can throw with some sent and no read behind them.
    const nodeJobs = jobs.map((job) => this.nodeJob(runId, job));
    const parent = this.parentLink(runId);
    // A cluster client retries each command on its own (after a failover, on a node that may not
    // hold the slot): only a pipeline, resent whole and in order, keeps the read behind the adds.
    if (nodeJobs.length <= unpipelinedAdds && !client.isCluster) {
      // Each is written to the socket at once, in this order (BullMQ's add sends before it awaits).
      const added = nodeJobs.map((job) => job.addJob(client, parent));
      const [value] = await Promise.all([this.connection.hget(read.key, read.field), ...added]);
      return value;
    }
    const pipeline = client.pipeline();
    for (const job of nodeJobs) {
      // Queued on the pipeline at once, as BullMQ's own addBulk does; its promise settles with
      // nothing useful, and its outcome is in exec's answers below.
      job.addJob(pipeline, parent).catch(() => undefined);
    }
    pipeline.runCommand("hget", [read.key, read.field]);
    const answers = (await pipeline.exec()) ?? [];
    for (const [error, answer] of answers) {
      if (error) throw error;
      // A negative answer is an add BullMQ refused (its parent, the run job, is gone): as add would.
      if (typeof answer === "number" && answer < 0) {
        const { parentKey } = parent;
        throw this.runs().getBackend().finishedErrors({ code: answer, parentKey, command: "addJob" });
      }
    }
    const value: unknown = answers.at(-1)?.[1];
    return typeof value === "string" ? value : null;
  }

  private nodeJob(runId: string, { node, data }: { node: PlanNode; data: NodeJobData }): Job<NodeJobData> {
    const jobId = nodeJobId(runId, node.id, data.epoch);
    const parent = { id: runId, queue: this.runs().qualifiedName };
    if (node.approval) {
      // Handled by the run processor (approval.ts), which only moves it between waits: its
      // attempts are for Redis's blips, as the run job's are.
      const opts = { jobId, parent, ...approvalJobOptions, ignoreDependencyOnFailure: true };
      return new Job(this.nodeQueue(node), approvalJobName, data, opts, jobId);
    }
    const opts = {
      jobId,
      parent,
      attempts: node.retry.attempts,
      backoff: nodeBackoff(node.retry),
      ignoreDependencyOnFailure: true,
      ...nodeJobRetention,
    };
    return new Job(this.device(node.deviceId), node.functionId, data, opts, jobId);
  }

  /** What BullMQ's add needs to make a job a child of its run job, as Job.create gives it. */
  private parentLink(runId: string) {
    const parentKey = `${this.runs().qualifiedName}:${runId}`;
    return { parentKey, parentDependenciesKey: `${parentKey}:dependencies` };
  }

  /**
   * Takes the run's node jobs that have not begun (waiting behind another run's command, out a
   * backoff, or set aside for a reservation) out of their queues, once `beforeRemove` has ended
   * their nodes in the ledger. `nodes` are those the ledger has queued or running. A job that has
   * come up is locked and stays: a queued node's ends itself when it begins, a running one's
   * command is stopped by the halt. Removing a run job's last child wakes the run job (BullMQ moves
   * a parent whose children are all gone).
   */
  async removeNodeJobs(
    runId: string,
    nodes: readonly PlanNode[],
    epoch: number,
    beforeRemove: (nodeIds: string[]) => Promise<unknown>,
  ): Promise<void> {
    if (nodes.length === 0) return;
    // The ledger first (it ends only nodes still queued there): once a job is gone, the run job may
    // wake and must find its node ended.
    await beforeRemove(nodes.map((node) => node.id));
    // By id, without reading each job's state first: BullMQ's getState looks through the whole
    // wait list (LPOS), up to 12 ms a job with 2,500 jobs waiting on a device. Newest first: its
    // removal takes a job out of the wait list with LREM from the list's head, where the newest
    // jobs are; oldest first, each removal scanned the whole list too.
    await Promise.all(
      [...nodes].reverse().map(
        (node) =>
          this.nodeQueue(node)
            .remove(nodeJobId(runId, node.id, epoch))
            .catch(() => undefined), // a job left (Redis refused) ends itself when it comes up
      ),
    );
  }

  /**
   * Brings forward node jobs set aside while a device was reserved ("<device>|<job id>"), so they
   * look again at once; one that is no longer delayed has come up already.
   */
  async promoteWaiters(waiters: readonly string[]): Promise<void> {
    await Promise.all(
      waiters.map(async (waiter) => {
        const [deviceId = "", jobId = ""] = waiter.split("|");
        const job = await this.device(deviceId).getJob(jobId);
        await job?.promote().catch(() => undefined);
      }),
    );
  }

  /** A delayed job in the runs queue that stops the run when its time is up (orchestrator.ts). */
  addRunTimeout(runId: string, pipelineId: string, epoch: number, delayMs: number): Promise<unknown> {
    return this.runs().add(
      "timeout",
      { runId, pipelineId, epoch },
      {
        jobId: `${runId}__timeout__${epoch}`,
        delay: delayMs,
        attempts: 5,
        backoff: { type: "exponential", delay: 500 },
        removeOnComplete: true,
        removeOnFail: { age: week },
      },
    );
  }

  /** Drops a run's timeout job of this epoch, if it is still waiting (not the one running now). */
  async removeRunTimeout(runId: string, epoch: number): Promise<void> {
    await this.runs()
      .remove(`${runId}__timeout__${epoch}`)
      .catch(() => undefined);
  }

  /** When the run's timeout job of `epoch` fires (ms since the epoch), or null if it has none. */
  async runTimeoutAt(runId: string, epoch: number): Promise<number | null> {
    const job = await this.runs().getJob(`${runId}__timeout__${epoch}`);
    return job ? job.timestamp + (job.delay ?? 0) : null;
  }

  /**
   * Carries the run's timeout from one epoch to the next with the time it had left (`firesAt`, read
   * before the new epoch began: the old epoch's job then ends itself as stale). None if it had none.
   */
  async carryRunTimeout(
    runId: string,
    pipelineId: string,
    firesAt: number | null,
    epochs: { from: number; to: number },
  ): Promise<void> {
    if (firesAt === null || epochs.from === epochs.to) return;
    await this.addRunTimeout(runId, pipelineId, epochs.to, Math.max(0, firesAt - Date.now()));
    await this.removeRunTimeout(runId, epochs.from);
  }

  /** The run job: retried on transient errors (a Redis blip); the newest completed ones are kept. */
  addRunJob(runId: string, pipelineId: string): Promise<unknown> {
    return this.runs().add(
      "run",
      { runId, pipelineId },
      {
        jobId: runId,
        attempts: 20,
        backoff: { type: "exponential", delay: 500 },
        removeOnComplete: { age: week, count: keptJobs.completed },
      },
    );
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.queues.clear();
  }
}

export function nodeJobData(runId: string, pipelineId: string, node: PlanNode, epoch: number): NodeJobData {
  return {
    runId,
    pipelineId,
    nodeId: node.id,
    epoch,
    deviceId: node.deviceId,
    functionId: node.functionId,
    params: node.params,
    inputs: node.inputs,
    successors: node.successors,
    timeoutMs: node.timeoutMs,
    idempotent: node.idempotent,
    retry: node.retry,
    ...(node.onFailure && { onFailure: node.onFailure }),
  };
}
