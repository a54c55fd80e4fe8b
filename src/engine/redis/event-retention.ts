/**
 * How long a run's own event stream is kept. The stream is capped while it grows (XADD MAXLEN ~ on
 * every append: the oldest entries go first, approximately, whole stream nodes at a time) and
 * expires a while after the run ends (EXPIRE in run-finish.lua; PERSIST in run-resume.lua, so a
 * resumed run's stream cannot vanish while it runs). The run's record stays either way.
 */
export interface EventRetention {
  /** Entries a run's stream keeps, approximately. */
  runEventsMax: number;
  /** Seconds a run's stream lives after the run ends; 0 keeps it for ever. */
  runEventsTtlS: number;
}

export const defaultEventRetention: EventRetention = {
  runEventsMax: 10_000,
  runEventsTtlS: 7 * 24 * 3600,
};

/** How many entries the all-runs event stream keeps (approximately; XADD MAXLEN ~). */
export const globalEventStreamLength = 10_000;
