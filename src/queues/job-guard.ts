import { endedRunStatuses, nodeJobId, RigflowError, type RunStore, type StoredRun } from "../engine/index.js";
import { jobOwner, type JobOwner } from "./job-record.js";
import type { FoundJob } from "./queue-inspector.js";

/** What retrying a failed job does: retry the job itself, or resume its run. */
export type RetryPlan = { kind: "job" } | { kind: "resume"; runId: string };

/**
 * The run ledger's rules for acting on jobs from outside (the inspection API, not a worker). The
 * ledger, not BullMQ, says what a run has done and may do next; a job is how a node reaches its
 * device and how a run's orchestrator wakes. So an action is refused (409) when the ledger would no
 * longer agree with the queues: removing a job a run that has not ended still needs, promoting a
 * node that may not start, retrying a node job by itself (resuming its run does that properly).
 * Jobs of a run that has ended, jobs from before a resume, and jobs of no run are history.
 *
 * The checks read, then the action acts: a run that changes in between (a cancel, a resume) meets
 * a job in a state the ledger already copes with, as with a worker's own races (a stale or skipped
 * job ends without touching its device).
 */
export class JobGuard {
  constructor(private readonly runs: RunStore) {}

  async checkRemove(found: FoundJob): Promise<void> {
    const { job, state } = found;
    if (state === "active") {
      const owner = jobOwner(found.name, job);
      const hint =
        owner.kind === "other" ? "" : `; to stop it, cancel its run: POST /api/runs/${owner.runId}/cancel`;
      throw new RigflowError("JOB_STATE_CONFLICT", `job '${job.id}' is active and cannot be removed${hint}`, {
        ...where(found),
        state,
      });
    }
    const { owner, run } = await this.ownerRun(found);
    if (owner.kind === "other" || !run || endedRunStatuses.has(run.status)) return;
    if (owner.kind !== "run" && owner.epoch < (await this.runs.epoch(run.runId))) return;
    const needs =
      owner.kind === "run"
        ? "it is the run's orchestrator"
        : owner.kind === "timeout"
          ? "it is the run's timeout"
          : `node '${owner.nodeId}' would be left without its job`;
    throw new RigflowError(
      "RUN_NOT_ENDED",
      `job '${job.id}' belongs to run ${run.runId}, which is ${run.status} and still needs it (${needs}); ` +
        `cancel the run first (POST /api/runs/${run.runId}/cancel) or wait for it to end`,
      { ...where(found), run_id: run.runId, run_status: run.status },
    );
  }

  /**
   * After a run job was removed: its run, if the run is no longer ended. checkRemove saw it ended,
   * but a resume may have come in between (it bumps the ledger first, then wakes the run job, the
   * same id, which the removal then took, with any node jobs it had added): such a run needs its
   * run job again. A node or timeout job needs nothing: a resume gives the run new ids for those.
   */
  async runToWake(found: FoundJob): Promise<StoredRun | null> {
    const owner = jobOwner(found.name, found.job);
    if (owner.kind !== "run") return null;
    const run = await this.runs.loadRun(owner.runId);
    return run && !endedRunStatuses.has(run.status) ? run : null;
  }

  async checkPromote(found: FoundJob): Promise<void> {
    requireState(found, "delayed", "promoted");
    const { owner, run } = await this.ownerRun(found);
    if (owner.kind !== "node" || !run) return;
    const refuse = (reason: string, details: Record<string, unknown> = {}) =>
      new RigflowError(
        "NODE_NOT_READY",
        `node '${owner.nodeId}' of run ${run.runId} may not start now: ${reason}`,
        {
          ...where(found),
          run_id: run.runId,
          node_id: owner.nodeId,
          ...details,
        },
      );
    if (run.status !== "running") throw refuse(`the run is ${run.status}`, { run_status: run.status });
    if (run.halt === "paused" || run.halt === "held") {
      throw refuse(`the run is ${run.halt === "paused" ? "pausing" : "holding"}`, { run_status: run.status });
    }
    if (run.halt !== "") throw refuse(`the run is stopping (${run.halt})`, { run_status: run.status });
    const current = await this.runs.epoch(run.runId);
    if (owner.epoch !== current) throw superseded(found, run.runId, owner.nodeId, owner.epoch, current);
    const states = new Map(
      (await this.runs.state(run.runId, run.plan))?.nodes.map((n) => [n.nodeId, n.status]),
    );
    const predecessors = run.plan.nodes.find((node) => node.id === owner.nodeId)?.predecessors ?? [];
    const waiting = predecessors.filter((id) => states.get(id) !== "completed");
    if (waiting.length > 0) {
      const list = waiting.map((id) => `'${id}' (${states.get(id) ?? "unknown"})`).join(", ");
      throw refuse(`its predecessors ${list} have not completed`, { predecessors: waiting });
    }
    // Released (queued) is the ledger's word that it may start; anything else it has left behind.
    // A waiting approval's job only looks at its node again when promoted: harmless.
    const status = states.get(owner.nodeId);
    if (status !== "queued" && status !== "waiting") {
      throw refuse(`it is ${status ?? "unknown"}, not queued`, { node_status: status });
    }
  }

  /**
   * A failed node job is not retried by itself: its node failed in the ledger and halted the run,
   * and only a resume runs it again (in a new epoch, with the run's other failed and cancelled
   * nodes, then their successors). So retrying it resumes its run once the run has ended; a failed
   * run job does the same. Other failed jobs (a run job of a run still going, a timeout job, a job
   * of no run) are retried as jobs: each rechecks the ledger when it runs.
   */
  async planRetry(found: FoundJob): Promise<RetryPlan> {
    requireState(found, "failed", "retried");
    const { owner, run } = await this.ownerRun(found);
    if (!run || owner.kind === "other" || owner.kind === "timeout") return { kind: "job" };
    const ended = run.status === "failed" || run.status === "cancelled";
    if (owner.kind === "run") return ended ? { kind: "resume", runId: run.runId } : { kind: "job" };
    const current = await this.runs.epoch(run.runId);
    if (owner.epoch < current) throw superseded(found, run.runId, owner.nodeId, owner.epoch, current);
    if (ended) return { kind: "resume", runId: run.runId };
    if (run.status === "completed") {
      throw new RigflowError(
        "RUN_NOT_RETRYABLE",
        `job '${found.job.id}' belongs to run ${run.runId}, which has completed; there is nothing to retry`,
        { ...where(found), run_id: run.runId, run_status: run.status },
      );
    }
    throw new RigflowError(
      "RUN_NOT_ENDED",
      `node '${owner.nodeId}' failed and run ${run.runId} is stopping (${run.status}); once the run has ` +
        "ended, retrying this job resumes it (POST /api/runs/{id}/retry)",
      { ...where(found), run_id: run.runId, run_status: run.status },
    );
  }

  private async ownerRun(found: FoundJob): Promise<{ owner: JobOwner; run: StoredRun | null }> {
    const owner = jobOwner(found.name, found.job);
    return { owner, run: owner.kind === "other" ? null : await this.runs.loadRun(owner.runId) };
  }
}

function where(found: FoundJob) {
  return { queue: found.name, job_id: found.job.id };
}

function superseded(found: FoundJob, runId: string, nodeId: string, epoch: number, current: number) {
  return new RigflowError(
    "JOB_SUPERSEDED",
    `job '${found.job.id}' is from before run ${runId} was resumed (epoch ${epoch}; now ${current}): ` +
      `node '${nodeId}' has a newer job, '${nodeJobId(runId, nodeId, current)}'`,
    { ...where(found), run_id: runId, node_id: nodeId, newer_job_id: nodeJobId(runId, nodeId, current) },
  );
}

/** An action only a job in one state can take (promote a delayed job, retry a failed one). */
function requireState(found: FoundJob, state: "delayed" | "failed", done: string): void {
  if (found.state === state) return;
  throw new RigflowError(
    "JOB_STATE_CONFLICT",
    `only a ${state} job can be ${done}; job '${found.job.id}' is ${found.state}`,
    { ...where(found), state: found.state },
  );
}
