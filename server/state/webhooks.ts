// Posts JSON alerts (health check transitions, rollout outcomes) to the operator's webhooks.
// Delivery never blocks the caller: each alert is retried a few times with backoff, then logged
// as lost.
import type { Logger } from 'pino';
import { VERSION } from '../../common/version';

/** What a webhook receives: `type` tells check transitions from rollout outcomes. */
export type Alert =
  | { type: 'check'; node: string; nodeId: string; spec: string; check: string; passing: boolean; previous: boolean | null; output: string; at: string }
  | { type: 'rollout'; rollout: string; spec: string; revision: number; state: string; reason: string; at: string };

const ATTEMPTS = 4;
const TIMEOUT_MS = 5000;

export class Webhooks {
  readonly #urls: readonly string[];
  readonly #log: Logger;
  readonly #retryBaseMs: number;
  #inFlight = new Set<Promise<void>>();

  constructor(urls: readonly string[], log: Logger, retryBaseMs = 1000) {
    this.#urls = urls;
    this.#log = log;
    this.#retryBaseMs = retryBaseMs;
  }

  /** Queues `alert` for every configured webhook. */
  notify(alert: Alert): void {
    for (const url of this.#urls) {
      const p = this.#deliver(url, alert).finally(() => this.#inFlight.delete(p));
      this.#inFlight.add(p);
    }
  }

  /** Waits (up to `ms`) for alerts still being delivered; used at shutdown. */
  async drain(ms = 2000): Promise<void> {
    await Promise.race([Promise.allSettled([...this.#inFlight]), new Promise((r) => setTimeout(r, ms).unref())]);
  }

  async #deliver(url: string, alert: Alert): Promise<void> {
    const body = JSON.stringify(alert);
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': `fleet-server/${VERSION}` },
          body,
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        if (res.ok) return;
        throw new Error(`HTTP ${res.status}`);
      } catch (err) {
        if (attempt >= ATTEMPTS) {
          this.#log.warn({ url, type: alert.type, reason: (err as Error).message }, 'webhook delivery failed; alert dropped');
          return;
        }
        await new Promise((r) => setTimeout(r, this.#retryBaseMs * 2 ** (attempt - 1)));
      }
    }
  }
}
