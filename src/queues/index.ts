// The queue admin surface (Bull-board style): inspection of BullMQ's queues and jobs, and actions
// on them checked against the run ledger. Outside the run engine, which needs none of it to run.
import type { Engine } from "../engine/index.js";
import { JobGuard } from "./job-guard.js";
import { QueueActions } from "./queue-actions.js";
import { QueueInspector } from "./queue-inspector.js";

export { jobStates, type JobOwner, type JobRecord, type JobState } from "./job-record.js";
export { cleanableStates, type CleanableState, type RetryOutcome } from "./queue-actions.js";
export type { JobDetail, QueueOverview } from "./queue-inspector.js";
export type { QueueActions, QueueInspector };

export interface QueueAdmin {
  inspector: QueueInspector;
  actions: QueueActions;
}

export function createQueueAdmin(engine: Engine): QueueAdmin {
  const inspector = new QueueInspector(engine.queues, engine.catalog, (nodes) =>
    engine.runs.recordedOutputs(nodes),
  );
  const actions = new QueueActions(
    inspector,
    new JobGuard(engine.runs),
    (runId) => engine.resumeRun(runId),
    (runId, pipelineId) => engine.wakeRunJob(runId, pipelineId),
  );
  return { inspector, actions };
}
