// Events between the parts of the server: a job's events for whoever follows it, a rollout's
// changes for whoever watches it. With several replicas a shared bus (NATS) carries them, so a
// watcher on one replica hears a job driven by another.

/** Publish/subscribe by topic. Delivery is in publish order per topic; a handler's failure stays its own. */
export interface EventBus {
  /** Sends `event` to every subscriber of `topic` now subscribed. */
  publish<T>(topic: string, event: T): void;
  /** Calls `handler` with every event published on `topic` from now on; returns the unsubscribe function. */
  subscribe<T>(topic: string, handler: (event: T) => void): () => void;
  /**
   * A number that changes whenever this server stops or starts hearing the other servers (what
   * they publish while it does not is not delivered here): equal at two moments means nothing was
   * missed between them. Absent on a bus that never misses anything (in-process).
   */
  outages?(): number;
}

/** The topic of one job's events (JobEvent). */
export const jobTopic = (jobId: string) => `job.${jobId}`;
/** The topic of one rollout's changes (no payload: read the rollout). */
export const rolloutTopic = (rolloutId: string) => `rollout.${rolloutId}`;
