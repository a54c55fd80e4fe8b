/**
 * Every Redis key Rigflow itself writes (BullMQ keeps its own under `<prefix>:<queue>:`). Queue
 * names never equal "rf", so the two never meet.
 */
export function redisKeys(prefix: string) {
  const ns = `${prefix}:rf`;
  return {
    pipeline: (id: string) => `${ns}:pipeline:${id}`,
    pipelineVersion: (id: string) => `${ns}:pipeline-version:${id}`,
    pipelines: `${ns}:pipelines`,
    /** A run plan by its content's hash, with how many runs refer to it (plan-store.ts). */
    planPrefix: `${ns}:plan:`,
    plan: (planId: string) => `${ns}:plan:${planId}`,
    runPrefix: `${ns}:run:`,
    run: (runId: string) => `${ns}:run:${runId}`,
    runNodes: (runId: string) => `${ns}:run:${runId}:nodes`,
    runOutputs: (runId: string) => `${ns}:run:${runId}:outputs`,
    runEvents: (runId: string) => `${ns}:run:${runId}:events`,
    /** The devices a reserving run holds, with how many of its nodes are left on each. */
    runReservations: (runId: string) => `${ns}:run:${runId}:reserved`,
    /** Which run holds each reserved device. */
    deviceReservations: `${ns}:device-reservations`,
    /** Node jobs set aside because a device was reserved, as "<device>|<job id>": woken when one ends. */
    reservationWaiters: `${ns}:reservation-waiters`,
    runs: `${ns}:runs`,
    /** One pipeline's runs by sequence: a filtered run list reads these, not every run. */
    pipelineRuns: (pipelineId: string) => `${ns}:pipeline-runs:${pipelineId}`,
    pipelineRunsPrefix: `${ns}:pipeline-runs:`,
    /** The prefix of the runs-by-status indexes: one sorted set per status, runs by sequence. */
    runsByStatusPrefix: `${ns}:runs-by-status:`,
    runsByStatus: (status: string) => `${ns}:runs-by-status:${status}`,
    /**
     * Set once every run made before an index existed has been added to the indexes (pipeline-runs,
     * runs-by-status, ended-runs); its value is the version of that set of indexes.
     */
    runIndexesVersion: `${ns}:run-indexes-version`,
    /** Ended runs by the time they ended (ms on Redis's clock): what the retention sweeper reads. */
    endedRuns: `${ns}:ended-runs`,
    /** Held by the retention sweeper taking a step, so that two workers do not sweep at once. */
    retentionSweep: `${ns}:retention-sweep`,
    activeRuns: `${ns}:active-runs`,
    runSequence: `${ns}:run-sequence`,
    events: `${ns}:events`,
    idempotency: (key: string) => `${ns}:idempotency:${key}`,
    device: (deviceId: string) => `${ns}:device:${deviceId}`,
    /** Who holds a device's lease, its fencing token, and until when on the lease clock. */
    deviceLease: (deviceId: string) => `${ns}:device-lease:${deviceId}`,
    /** The clock device leases run on (lease-clock.lua). */
    leaseClock: `${ns}:lease-clock`,
    /** A dashboard session, by the SHA-256 of its id (the cookie's value never reaches Redis). */
    session: (idHash: string) => `${ns}:session:${idHash}`,
    /** A credential's sessions (hashes of their ids) by sign-in time, to cap how many it has. */
    credentialSessions: (credentialId: string) => `${ns}:credential-sessions:${credentialId}`,
    /** The prefix of the sign-in counters, one per credential. */
    signIns: `${ns}:sign-ins`,
    /** The prefix of the counters of changes per client (RATE_LIMIT_PER_MIN). */
    changeRate: `${ns}:change-rate`,
    /** The prefix of the counters of refusals written to the audit log, one per client address. */
    auditedRefusals: `${ns}:audited-refusals`,
    /** The audit log: a stream of who did what (src/api/access/audit-log.ts). */
    audit: `${ns}:audit`,
    /** The prefix of the failed sign-in counters, one per client address. */
    signInFailures: `${ns}:sign-in-failures`,
    cancelChannel: `${ns}:cancel`,
    runEndedChannel: `${ns}:run-ended`,
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;
