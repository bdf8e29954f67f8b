// The embedded WebSessionStore: web sessions in a map, in this process (gone on restart, as
// before: people sign in again).
import type { WebSession, WebSessionStore } from './web-sessions';

/** Web sessions in memory, by key (the SHA-256 of the cookie value). */
export class MemoryWebSessions implements WebSessionStore {
  readonly #byKey = new Map<string, WebSession>();

  /** Sessions held, expired ones not yet dropped included. */
  get size(): number {
    return this.#byKey.size;
  }

  async create(key: string, session: WebSession): Promise<void> {
    this.#byKey.set(key, session);
  }

  async get(key: string, now: number): Promise<WebSession | undefined> {
    const session = this.#byKey.get(key);
    if (!session) return undefined;
    if (session.expiresAt <= now) {
      this.#byKey.delete(key);
      return undefined;
    }
    return session;
  }

  async delete(key: string): Promise<void> {
    this.#byKey.delete(key);
  }

  async deleteForToken(tokenId: string): Promise<void> {
    for (const [key, s] of this.#byKey) if (s.principal.tokenId === tokenId) this.#byKey.delete(key);
  }

  async expire(now: number): Promise<number> {
    let dropped = 0;
    for (const [key, s] of this.#byKey) {
      if (s.expiresAt > now) continue;
      this.#byKey.delete(key);
      dropped++;
    }
    return dropped;
  }
}
