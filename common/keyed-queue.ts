// Runs async tasks one after another per key (a node, a session), and tasks of different keys
// side by side: what keeps one node's reports in order once the stores are async.

/**
 * Per-key serial queues. A task that fails is handed to `onError` and does not stop the tasks
 * queued behind it; nothing a task throws escapes as an unhandled rejection.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>();
  readonly #onError: (err: unknown, key: string) => void;

  constructor(onError: (err: unknown, key: string) => void) {
    this.#onError = onError;
  }

  /** Queues `task` behind the tasks of `key`; resolves once it has run (or failed). */
  run(key: string, task: () => Promise<unknown> | unknown): Promise<void> {
    const done = (this.#tails.get(key) ?? Promise.resolve()).then(task).then(
      () => undefined,
      (err: unknown) => this.#onError(err, key),
    );
    this.#tails.set(key, done);
    void done.then(() => {
      if (this.#tails.get(key) === done) this.#tails.delete(key);
    });
    return done;
  }

  /** Resolves when every task queued so far has run. */
  async idle(): Promise<void> {
    await Promise.all([...this.#tails.values()]);
  }
}
