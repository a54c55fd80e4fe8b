import { RigflowError, type RunStatus } from "../engine/index.js";
import type { JobState } from "./job-record.js";
import type { JobGuard } from "./job-guard.js";
import type { FoundJob, QueueInspector, QueueOverview } from "./queue-inspector.js";

/** The states a queue may be cleaned of: finished jobs, which no run's ledger depends on. */
export const cleanableStates = ["completed", "failed"] as const;
export type CleanableState = (typeof cleanableStates)[number];

export type RetryOutcome =
  { kind: "job"; state: JobState | "unknown" } | { kind: "resumed"; runId: string; runStatus: RunStatus };

/** BullMQ's refusal to remove a job that is, or has a child that is, held by a worker (Job.remove). */
const lockedByWorker = /locked by another worker/i;

/**
 * Bull-board's actions on jobs and queues, each checked against the run ledger first (JobGuard).
 * Pausing and resuming a queue is always allowed: a paused device queue only holds its waiting
 * jobs back, which the ledger sees as queued nodes; a worker re-asserts a queue's global
 * concurrency but never resumes it.
 */
export class QueueActions {
  constructor(
    private readonly inspector: QueueInspector,
    private readonly guard: JobGuard,
    private readonly resumeRun: (runId: string) => Promise<RunStatus>,
    private readonly wakeRunJob: (runId: string, pipelineId: string) => Promise<void>,
  ) {}

  async retry(queueName: string, jobId: string): Promise<RetryOutcome> {
    const found = await this.inspector.find(queueName, jobId);
    const plan = await this.guard.planRetry(found);
    if (plan.kind === "resume") {
      return { kind: "resumed", runId: plan.runId, runStatus: await this.resumeRun(plan.runId) };
    }
    await this.act(found, "failed", () => found.job.retry("failed"));
    return { kind: "job", state: await this.stateAfter(found) };
  }

  async remove(queueName: string, jobId: string): Promise<void> {
    const found = await this.inspector.find(queueName, jobId);
    await this.guard.checkRemove(found);
    // A run job's node jobs go with it (only ever for a run that has ended).
    await this.act(found, "not active", () => found.job.remove({ removeChildren: true }));
    // The guard saw the run ended; a resume in between has made it live again, and the run job it
    // woke (the same id) is gone, with any node jobs it had added: wake it again, which re-adds it,
    // and it re-adds its queued nodes' jobs. Not waiting for the sweeper (30 s) to find it stalled.
    const run = await this.guard.runToWake(found);
    if (run) await this.wakeRunJob(run.runId, run.pipelineId);
  }

  async promote(queueName: string, jobId: string): Promise<JobState | "unknown"> {
    const found = await this.inspector.find(queueName, jobId);
    await this.guard.checkPromote(found);
    await this.act(found, "delayed", () => found.job.promote());
    return this.stateAfter(found);
  }

  async pause(queueName: string): Promise<QueueOverview> {
    await this.inspector.queue(queueName).pause();
    return this.inspector.overviewOf(queueName);
  }

  async resume(queueName: string): Promise<QueueOverview> {
    await this.inspector.queue(queueName).resume();
    return this.inspector.overviewOf(queueName);
  }

  /** Removes up to `limit` (0: all) jobs that finished over `graceMs` ago; returns their ids. */
  clean(queueName: string, state: CleanableState, graceMs: number, limit: number): Promise<string[]> {
    return this.inspector.queue(queueName).clean(graceMs, limit, state);
  }

  /**
   * The job's state once a retry or promote has succeeded. A job gone by then has run and been
   * removed on completion (a run's timeout job is removeOnComplete): it completed.
   */
  private async stateAfter(found: FoundJob): Promise<JobState | "unknown"> {
    try {
      return (await this.inspector.find(found.name, found.job.id ?? "")).state;
    } catch (error) {
      if (error instanceof RigflowError && error.code === "JOB_NOT_FOUND") return "completed";
      throw error;
    }
  }

  /**
   * Runs a BullMQ action whose own check failed in between ours and it (the job moved on, or was
   * removed): that is a conflict or a 404 like any other, not a fault. So is a remove that BullMQ
   * refuses because the job or one of its children is held by a worker (active).
   */
  private async act(found: FoundJob, needed: string, action: () => Promise<unknown>): Promise<void> {
    try {
      await action();
    } catch (error) {
      const id = found.job.id ?? "";
      const now = await this.inspector.find(found.name, id); // JOB_NOT_FOUND if it went
      if (now.state !== found.state) {
        throw new RigflowError(
          "JOB_STATE_CONFLICT",
          `job '${id}' changed state (${found.state} to ${now.state}) while being acted on; it must be ${needed}`,
          { queue: found.name, job_id: id, state: now.state },
        );
      }
      if (error instanceof Error && lockedByWorker.test(error.message)) {
        throw new RigflowError(
          "JOB_STATE_CONFLICT",
          `job '${id}' cannot be removed: it or one of its child jobs is active (held by a worker); ` +
            "wait for the child to end, or cancel its run",
          { queue: found.name, job_id: id, state: now.state },
        );
      }
      throw error;
    }
  }
}
