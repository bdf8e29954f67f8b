// The embedded bus: in-process, synchronous delivery (a subscriber hears an event before
// publish returns).
import type { Logger } from 'pino';
import type { EventBus } from './event-bus';

export class LocalBus implements EventBus {
  readonly #topics = new Map<string, Set<(event: unknown) => void>>();
  readonly #log: Logger | undefined;

  constructor(log?: Logger) {
    this.#log = log;
  }

  publish<T>(topic: string, event: T): void {
    // A copy: a handler may unsubscribe (itself or another) while the event is delivered.
    for (const handler of [...(this.#topics.get(topic) ?? [])]) {
      try {
        handler(event);
      } catch (err) {
        this.#log?.error({ err, topic }, 'an event handler failed');
      }
    }
  }

  subscribe<T>(topic: string, handler: (event: T) => void): () => void {
    let set = this.#topics.get(topic);
    if (!set) this.#topics.set(topic, (set = new Set()));
    const h = handler as (event: unknown) => void;
    set.add(h);
    return () => {
      set.delete(h);
      if (set.size === 0 && this.#topics.get(topic) === set) this.#topics.delete(topic);
    };
  }

  /** Topics with at least one subscriber (a watcher that never unsubscribes shows here). */
  get topicCount(): number {
    return this.#topics.size;
  }
}
