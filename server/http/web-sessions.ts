// Browser sign-in state: cookie sessions (an API token is exchanged once for a random session id;
// the token itself is never stored) and the CSRF token that goes with each session, kept in a
// WebSessionStore (memory-web-sessions.ts in the embedded server). The cookie itself is read and
// written by @fastify/cookie (web-app.ts).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../auth';
import { CsrfError, NotSignedInError } from './errors';

/** The cookie that carries the session id. */
export const SESSION_COOKIE = 'fleet_session';
/** How long a browser session lasts after sign-in. */
export const SESSION_TTL_MS = 12 * 3_600_000;

/** One signed-in browser. */
export interface WebSession {
  principal: Principal;
  /** Sent back by the page as `x-csrf-token` on every state-changing request. */
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

/**
 * How the session cookie is set (with @fastify/cookie's `reply.setCookie`): only over HTTPS, never
 * readable by scripts, never sent by another site; sign-out sets it empty with `maxAge: 0`.
 */
export const SESSION_COOKIE_OPTIONS = { path: '/', maxAge: SESSION_TTL_MS / 1000, httpOnly: true, secure: true, sameSite: 'strict' } as const;

/** Constant-time comparison of two strings of any length. */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/**
 * Where web sessions are kept: the seam between the session logic (WebSessions) and its storage
 * (docs/architecture.md, "State shared by replicas"). Keys are the SHA-256 of the cookie value,
 * never the cookie itself. The embedded server keeps them in memory (MemoryWebSessions); replicas
 * behind one load balancer would share a table, since a browser's next request may reach any of them.
 *
 * A shared implementation must make a session visible to every replica once `create` resolves,
 * and gone everywhere once `delete`/`deleteForToken` resolve (sign-out and revocation take effect
 * on the next request, whichever replica answers it).
 */
export interface WebSessionStore {
  /** Keeps a new session under `key`. */
  create(key: string, session: WebSession): Promise<void>;
  /** The session under `key`, unless it has expired by `now` (an expired one is dropped). */
  get(key: string, now: number): Promise<WebSession | undefined>;
  /** Forgets the session under `key` (nothing happens when there is none). */
  delete(key: string): Promise<void>;
  /** Forgets every session of one API token. */
  deleteForToken(tokenId: string): Promise<void>;
  /** Drops every session expired by `now`; resolves with how many there were. */
  expire(now: number): Promise<number>;
}

/**
 * Browser sessions: the cookie value (256 random bits) is handed out once and only its SHA-256
 * is kept, so lookups never compare secrets and a dump of the store holds no usable cookies.
 *
 * @example
 * const { id } = await sessions.create(principal);   // reply.setCookie(SESSION_COOKIE, id, SESSION_COOKIE_OPTIONS)
 * await sessions.require(request.cookies[SESSION_COOKIE]); // → WebSession, or throws NotSignedInError
 */
export class WebSessions {
  readonly #store: WebSessionStore;
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(store: WebSessionStore, options: { ttlMs?: number; now?: () => number } = {}) {
    this.#store = store;
    this.#ttlMs = options.ttlMs ?? SESSION_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  /** Starts a session for a principal; resolves with the cookie value and the session. */
  async create(principal: Principal): Promise<{ id: string; session: WebSession }> {
    const id = randomBytes(32).toString('base64url');
    const now = this.#now();
    const session: WebSession = { principal, csrf: randomBytes(32).toString('base64url'), createdAt: now, expiresAt: now + this.#ttlMs };
    await this.#store.create(hashId(id), session);
    return { id, session };
  }

  /** The live session with this id (the session cookie's value), if any. */
  async find(id: string | undefined): Promise<WebSession | undefined> {
    if (!id || id.length > 100) return undefined;
    return this.#store.get(hashId(id), this.#now());
  }

  /** Like find, but rejects with NotSignedInError when there is no live session. */
  async require(id: string | undefined): Promise<WebSession> {
    const session = await this.find(id);
    if (!session) throw new NotSignedInError();
    return session;
  }

  /** Throws CsrfError unless `given` is the session's CSRF token. */
  checkCsrf(session: WebSession, given: unknown): void {
    if (typeof given !== 'string' || !sameSecret(given, session.csrf)) throw new CsrfError();
  }

  /** Ends the session with this id (sign-out). */
  async delete(id: string | undefined): Promise<void> {
    if (id && id.length <= 100) await this.#store.delete(hashId(id));
  }

  /** Ends every session of one API token (for instance when it turns out revoked). */
  async deleteForToken(tokenId: string): Promise<void> {
    await this.#store.deleteForToken(tokenId);
  }

  /** Drops expired sessions. */
  async sweep(): Promise<void> {
    await this.#store.expire(this.#now());
  }
}

function hashId(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}
