import { UnrecoverableError, WaitingChildrenError, type Job } from "bullmq";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { PlanNode } from "../pipeline/plan.js";
import type { RunEventBody } from "../run/events.js";
import { countsOf, nodeStatuses, type NodeCounts, type NodeState } from "../run/types.js";
import {
  approvalJobName,
  nodeJobData,
  nodeJobId,
  type NodeJobData,
  type QueueSet,
  type RunJobData,
} from "./queues.js";
import { createApprovalProcessor } from "./approval-processor.js";
import type { RedisKeys } from "./keys.js";
import { addReleasedNodeJobs, haltedNodeError, haltRun } from "./run-halt.js";
import { releaseRest } from "./node-release.js";
import { removeQueuedJobs } from "./run-pause.js";
import { successorBatch, type RunLedger } from "./run-ledger.js";
import type { RunStore, StoredRun } from "./run-store.js";

/** The states of a job that has not ended: its node is not stranded, whatever the ledger says yet. */
const liveJobStates = new Set(["waiting", "delayed", "active", "prioritized", "waiting-children"]);

/** Each round adds jobs or fails stranded nodes, so this many only guards against a fault of ours. */
const maxRounds = 10;

/**
 * The run job's processor: the run's finalizer and reconciler. It wakes when the run starts and
 * whenever all of its current node jobs have ended; it releases the nodes whose predecessors are
 * complete, waits for them as children, repairs nodes left stranded (queued or running with no live
 * job), and ends the run once nothing is left to run.
 */
export function createRunProcessor(deps: {
  redis: Redis;
  keys: RedisKeys;
  store: RunStore;
  ledger: RunLedger;
  queues: QueueSet;
  log: Logger;
  approvalRecheckMs?: number | undefined;
}) {
  const { store, ledger, queues, log } = deps;
  const processApproval = createApprovalProcessor(deps);

  return async function processRun(job: Job<RunJobData>, token?: string): Promise<{ status: string }> {
    const { runId } = job.data;
    const run = await store.loadRun(runId);
    if (!run) throw new UnrecoverableError(`run ${runId} has no ledger`);
    if (job.name === "timeout") return timeOut(run, job.data.epoch ?? 0);
    if (job.name === approvalJobName) return processApproval(job as unknown as Job<NodeJobData>, token, run);
    const nodes = new Map(run.plan.nodes.map((node) => [node.id, node]));
    const { resetting } = await ledger.startRun(runId, run.pipelineId, {
      type: "pipeline_started",
      pipeline_name: run.plan.pipelineName,
      node_count: nodes.size,
    });
    if (resetting !== "") {
      // A resume whose caller did not finish putting the nodes back to pending (it died, or Redis
      // refused a batch): finished here, before anything is decided from the nodes.
      log.warn({ runId, epoch: resetting }, "a resume's reset of its nodes was left part-way: finishing it");
      await ledger.finishReset(runId, run.pipelineId, Number(resetting), [...nodes.keys()]);
    }
    for (let round = 0; round < maxRounds; round += 1) {
      await carryOnReleases(run, nodes);
      const { epoch, released } = await releaseReady(run);
      await addJobs(
        run,
        epoch,
        released.map((id) => nodes.get(id) as PlanNode),
      );
      if (await job.moveToWaitingChildren(token ?? "")) throw new WaitingChildrenError();
      // No child is pending: a node still queued or running has no live job. The counts say whether
      // there is one, so a run that went as planned is never read node by node: it is over.
      const counts = await store.nodeCounts(runId, run.plan);
      const rested =
        counts.running + counts.waiting === 0 && plausible(counts, nodes.size)
          ? await rest(run, counts)
          : null;
      if (rested) return rested;
      if (counts.queued + counts.running + counts.waiting === 0 && plausible(counts, nodes.size)) {
        const ended = await finishIfDone(run, counts);
        if (ended) return ended;
      }
      // Something is still queued or running without a job, or the counts are off (a script of an
      // older release changed statuses without them): the nodes themselves decide, and the
      // counts are made again from them.
      const state = await store.state(runId, run.plan);
      if (!state) throw new UnrecoverableError(`run ${runId} disappeared`);
      // A paused or held run's queued nodes rest (their jobs ended without running): not stranded.
      // An approval waiting without a live job is, whatever the run's halt.
      const { halt } = await store.control(runId);
      const queuedStranded = halt !== "paused" && halt !== "held";
      const stranded = state.nodes.filter(
        (node) =>
          node.status === "running" ||
          node.status === "waiting" ||
          (node.status === "queued" && queuedStranded),
      );
      if (stranded.length > 0) {
        await repairStranded(run, epoch, stranded, nodes);
        continue;
      }
      const actual = countsOf(state.nodes);
      if (nodeStatuses.some((status) => actual[status] !== counts[status])) {
        log.warn({ runId, counted: counts, actual }, "the run's node counts were off; counted again");
        await store.recountNodes(runId, run.plan);
      }
      const ended = await finishIfDone(run, actual);
      if (ended) return ended;
    }
    throw new Error(`run ${runId} did not settle in ${maxRounds} rounds; will try again`);
  };

  /**
   * Marks queued the pending nodes whose predecessors are all complete. Only a run with pending
   * nodes is looked through (at its start, after a resume, while it goes on); at its end it has none.
   */
  async function releaseReady(run: StoredRun): Promise<{ epoch: number; released: string[] }> {
    const { pending } = await store.nodeCounts(run.runId, run.plan);
    if (pending === 0) return { epoch: await store.epoch(run.runId), released: [] };
    return ledger.releaseReady(
      run.runId,
      run.plan.nodes.map((node) => node.id),
    );
  }

  /**
   * Nothing of the run runs and nothing starts by itself: a pausing run becomes paused, a run with
   * held nodes becomes held (its queued nodes, if any, stay so). Either rests, its job ended, until a
   * person acts. Returns undefined if the run is to go on or end instead.
   */
  async function rest(run: StoredRun, counts: NodeCounts): Promise<{ status: string } | undefined> {
    if (allDone(counts, run.plan.nodes.length)) return undefined;
    const { halt, pauseMode } = await store.control(run.runId);
    let state: "paused" | "held" | undefined;
    if (halt === "paused") state = "paused";
    else if (halt === "held" || (halt === "" && counts.held > 0 && counts.queued === 0)) state = "held";
    if (!state) return undefined;
    if (!(await ledger.settleRun(run.runId, run.pipelineId, state, pauseMode))) return undefined;
    log.info({ runId: run.runId, status: state }, `run ${state}`);
    return { status: state };
  }

  /** A run's time is up: stop it, unless it has ended or been resumed (a new epoch, a new limit). */
  async function timeOut(run: StoredRun, epoch: number): Promise<{ status: string }> {
    if ((await store.epoch(run.runId)) !== epoch) return { status: "stale" };
    const before = await haltRun(deps, { runId: run.runId, plan: run.plan, epoch }, "timeout");
    if (before === "queued" || before === "running") log.warn({ runId: run.runId }, "run timed out");
    return { status: before };
  }

  function addJobs(run: StoredRun, epoch: number, toAdd: readonly PlanNode[]): Promise<void> {
    return addReleasedNodeJobs(
      { ledger, queues },
      run.runId,
      epoch,
      toAdd.map((node) => ({ node, data: nodeJobData(run.runId, run.pipelineId, node, epoch) })),
    );
  }

  /**
   * A queued node whose job was never added (a crash between its release and the add) gets its job
   * now. Any other stranded node's job ended without a result (its worker died, or it was removed):
   * the node fails NODE_INTERRUPTED, and a resume runs it again.
   */
  async function repairStranded(
    run: StoredRun,
    epoch: number,
    stranded: readonly NodeState[],
    nodes: ReadonlyMap<string, PlanNode>,
  ): Promise<void> {
    const missing: PlanNode[] = [];
    const { halt } = await store.control(run.runId);
    const halted = halt === "cancelled" || halt === "timeout" || halt === "failed";
    for (const node of stranded) {
      const plan = nodes.get(node.nodeId) as PlanNode;
      const existing = await queues.nodeQueue(plan).getJob(nodeJobId(run.runId, node.nodeId, epoch));
      // A queued node never began: in a halted run it ends as the halt ends nodes not begun, even
      // if its job ended (it rested while the run was paused, and the run was cancelled since).
      // An approval waiting without its job gets it again: it goes on waiting until its deadline.
      if (
        (node.status === "queued" || node.status === "waiting") &&
        (!existing || (halted && !liveJobStates.has(await existing.getState())))
      ) {
        missing.push(plan);
        continue;
      }
      // A job added since this run job woke (a worker that froze between a release and its add,
      // then thawed) is alive: the next round waits for it as a child. Only a job that has ended
      // without recording its node stranded it.
      if (existing && liveJobStates.has(await existing.getState())) continue;
      // An approval's job that ended without deciding it (failed on Redis errors, or after
      // stalls) did no work of its own: made anew (the ended one first taken away, or the add
      // would link it to the run job again), the node goes on waiting to its stored deadline.
      if (plan.approval && existing && (node.status === "queued" || node.status === "waiting")) {
        log.warn(
          { runId: run.runId, nodeId: node.nodeId },
          "an approval's job ended undecided: adding it again",
        );
        await existing.remove().catch(() => undefined);
        missing.push(plan);
        continue;
      }
      log.warn({ runId: run.runId, nodeId: node.nodeId }, "node job ended without a result");
      await ledger.failNode(
        // The orchestrator drives no device: its writes carry no fence.
        {
          runId: run.runId,
          pipelineId: run.pipelineId,
          nodeId: node.nodeId,
          epoch,
          deviceId: plan.deviceId,
          fence: "",
        },
        // A node that holds on failure waits for a person instead.
        plan.onFailure === "hold" ? "held" : "failed",
        {
          code: "NODE_INTERRUPTED",
          message: "the node's job ended without a result (its worker may have died)",
        },
        0,
      );
    }
    // A halted run (by a stranded node's failure just now, or before) starts nothing more: its
    // queued nodes without a job end as a halt ends nodes that have not begun.
    const after = (await store.control(run.runId)).halt;
    if (after === "cancelled" || after === "timeout" || after === "failed") {
      const ids = missing.map((node) => node.id);
      await ledger.cancelQueuedNodes(run.runId, epoch, ids, haltedNodeError(after));
      return;
    }
    // A held run (a stranded node was held just now) starts nothing more either: its queued nodes
    // stay queued, and their jobs leave the queues, for the run to rest without waiting for them.
    if (after === "held" || after === "paused") {
      await removeQueuedJobs({ ledger, queues }, run.runId, run.plan.nodes, epoch);
      return;
    }
    await addJobs(run, epoch, missing);
  }

  /**
   * Completed nodes whose release of their successors stopped part-way (their worker died between
   * two batches, and their job has not come back to go on) release the rest, in the run's current
   * epoch. Only a node with more successors than one batch can be part-way, so most runs read
   * nothing here, and the others one HMGET.
   */
  async function carryOnReleases(run: StoredRun, nodes: ReadonlyMap<string, PlanNode>): Promise<void> {
    const candidates = [...nodes.values()].filter((node) => node.successors.length > successorBatch);
    if (candidates.length === 0) return;
    const unfinished = await ledger.unfinishedReleases(
      run.runId,
      candidates.map((node) => node.id),
    );
    if (unfinished.size === 0) return;
    const epoch = await store.epoch(run.runId);
    for (const [nodeId, from] of unfinished) {
      log.warn(
        { runId: run.runId, nodeId, from },
        "a node's release of its successors stopped part-way: going on",
      );
      const ref = { runId: run.runId, pipelineId: run.pipelineId, nodeId, epoch };
      const successors = (nodes.get(nodeId) as PlanNode).successors;
      await releaseRest(ledger, ref, successors, from, (released) =>
        addJobs(
          run,
          epoch,
          released.map((id) => nodes.get(id) as PlanNode),
        ),
      );
    }
  }

  /** Ends the run when every node has settled; returns undefined while some can still move. */
  async function finishIfDone(run: StoredRun, counts: NodeCounts): Promise<{ status: string } | undefined> {
    const control = await store.control(run.runId);
    const { status } = control;
    if (status === "completed") return { status };
    if (status === "failed" || status === "cancelled") throw new UnrecoverableError(`run ended ${status}`);
    const started = control.startedAt;
    if (allDone(counts, run.plan.nodes.length)) {
      await finish(run, "completed", null, started, {
        type: "pipeline_completed",
        success: true,
        execution_time: elapsed(started),
        nodes_executed: counts.completed,
      });
      return { status: "completed" };
    }
    if (control.halt === "" || control.halt === "paused" || control.halt === "held") return undefined;
    if (control.halt === "cancelled") {
      await finish(
        run,
        "cancelled",
        { code: "CANCELLED", message: "the run was cancelled", node_id: null },
        started,
        {
          type: "pipeline_cancelled",
          node_id: null,
        },
      );
    } else if (control.halt === "timeout") {
      const message = `the run ran past its timeout_ms (${run.plan.timeoutMs ?? "?"} ms) and was stopped`;
      await finish(run, "failed", { code: "RUN_TIMEOUT", message, node_id: null }, started, {
        type: "pipeline_error",
        error_message: message,
        node_id: null,
        error_type: "RUN_TIMEOUT",
      });
    } else {
      const haltNode = control.haltNode || null;
      const recorded = haltNode === null ? null : await store.nodeError(run.runId, haltNode);
      const error = recorded ?? { code: "INTERNAL_ERROR", message: "a node failed" };
      const message = `node '${haltNode ?? "?"}' failed: ${error.message}`;
      await finish(run, "failed", { code: error.code, message, node_id: haltNode }, started, {
        type: "pipeline_error",
        error_message: message,
        node_id: haltNode,
        error_type: error.code,
      });
    }
    throw new UnrecoverableError(`run ended ${control.halt}`);
  }

  async function finish(
    run: StoredRun,
    status: "completed" | "failed" | "cancelled",
    error: { code: string; message: string; node_id: string | null } | null,
    startedAt: string | null,
    body: RunEventBody,
  ): Promise<void> {
    // The epoch this run job is ending, read while the run is still running: once it has ended a
    // resume may start the next epoch, whose timeout job must stay.
    const epoch = await store.epoch(run.runId);
    const { woken } = await ledger.finishRun(
      run.runId,
      run.pipelineId,
      status,
      elapsed(startedAt),
      error,
      body,
    );
    await queues.promoteWaiters(woken);
    // Every run has a timeout job (DEFAULT_RUN_TIMEOUT_MS): once the run has ended it would only
    // find it over, up to a day later, and meanwhile hold its place in Redis.
    await queues.removeRunTimeout(run.runId, epoch);
    log.info({ runId: run.runId, status }, "run ended");
  }
}

/** Every node completed, or skipped by a person: the run has completed. */
const allDone = (counts: NodeCounts, nodeCount: number) => counts.completed + counts.skipped === nodeCount;

/** Counts that cannot be right: a negative one, or not one per node. */
function plausible(counts: NodeCounts, nodeCount: number): boolean {
  const values = nodeStatuses.map((status) => counts[status]);
  return values.every((value) => value >= 0) && values.reduce((sum, value) => sum + value, 0) === nodeCount;
}

function elapsed(startedAt: string | null): number {
  if (!startedAt) return 0;
  return Math.round(((Date.now() - Date.parse(startedAt)) / 1000) * 1e6) / 1e6;
}
