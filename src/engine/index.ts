// The engine's public surface: the API and the worker import from here, never from its files.
export { createCatalog, type DeviceCatalog, type DeviceEntry, type FunctionContract } from "./catalog.js";
export { Engine, inlineNodesMax, type EventPage, type RunRequest, type SubmittedRun } from "./engine.js";
export { errorCodes, neverRetriedCodes, type ErrorCode, type ErrorKind } from "./errors/codes.js";
export { isRigflowError, RigflowError } from "./errors/rigflow-error.js";
export { isRedisFull } from "./errors/redis-full.js";
export { idSchema, pipelineDocumentSchema, runTimeoutSchema } from "./pipeline/document.js";
export { defaultLimits, type Limits } from "./pipeline/plan.js";
export { retryDelayMs, retryPolicyProblem, type RetryPolicy } from "./pipeline/retry.js";
export { shapeError } from "./pipeline/validate.js";
export type { DeviceLeaseStore, DeviceRecord } from "./redis/device-lease.js";
export type { DeviceStatus } from "./redis/device-status.js";
export { clusterPrefix, connectRedis, duplicateConnection, untilReady } from "./redis/connection.js";
export { defaultEventRetention, type EventRetention } from "./redis/event-retention.js";
export { defaultRunRetention, type RetentionStep, type RunRetention } from "./redis/run-retention.js";
export { EventTail } from "./redis/event-tail.js";
export type { RunStatusCounts } from "./redis/run-status-counts.js";
export { nodeBackoffStrategy } from "./redis/node-backoff.js";
export { fencedRetryMs, handBack, type NodeAttempt } from "./redis/node-lifecycle.js";
export { redisKeys, type RedisKeys } from "./redis/keys.js";
export {
  approvalJobName,
  deviceQueueName,
  isOutputsRecorded,
  nodeJobId,
  outputsRecorded,
  runsQueueName,
  type NodeJobData,
  type QueueSet,
  type RunJobData,
} from "./redis/queues.js";
export type { RunStore, StoredRun } from "./redis/run-store.js";
export { createWorkerRuntime, type WorkerRuntime } from "./redis/worker-runtime.js";
export { compareEventIds, isEventId, type RunEvent } from "./run/events.js";
export {
  endedRunStatuses,
  nodeStatuses,
  runStatuses,
  type NodeCounts,
  type NodeError,
  type NodeState,
  type NodeStatus,
  type RunOverview,
  type RunState,
  type RunStatus,
  type RunSummary,
} from "./run/types.js";
