/**
 * BullMQ's lock and stall settings for every worker in a Rigflow process. A running job's lock is
 * renewed every 2 s and lapses 4 s after its worker's last renewal; stalled jobs are looked for
 * every second. So when a worker dies mid-command, its job keeps the device's slot for at most
 * about 4 s (the device may still be moving), then goes back to its queue: an idempotent function
 * runs again, a non-idempotent one fails NODE_INTERRUPTED (node-begin.lua). BullMQ's defaults
 * (30 s, 30 s) would keep a dead worker's device blocked for up to a minute.
 *
 * The cost: a worker whose event loop is blocked for more than 4 s loses its locks as if it had
 * died. Three stalls of one job (a command that kills its worker every time) fail the node.
 */
export const jobLockOptions = {
  lockDuration: 4000,
  stalledInterval: 1000,
  maxStalledCount: 2,
} as const;
