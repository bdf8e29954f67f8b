// Browser sign-in state: cookie sessions kept in memory (an API token is exchanged once for a
// random session id; the token itself is never stored) and the CSRF token that goes with each
// session. The cookie itself is read and written by @fastify/cookie (web-app.ts).
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
 * Sessions by id. Ids are 256 random bits; the map is keyed by their SHA-256 so lookups do not
 * compare secrets and a memory dump does not hold usable cookies.
 *
 * @example
 * const { id, session } = sessions.create(principal); // reply.setCookie(SESSION_COOKIE, id, SESSION_COOKIE_OPTIONS)
 * sessions.require(request.cookies[SESSION_COOKIE]);  // → WebSession, or throws NotSignedInError
 */
export class WebSessions {
  readonly #byHash = new Map<string, WebSession>();
  readonly #ttlMs: number;
  readonly #now: () => number;

  constructor(options: { ttlMs?: number; now?: () => number } = {}) {
    this.#ttlMs = options.ttlMs ?? SESSION_TTL_MS;
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#byHash.size;
  }

  /** Starts a session for a principal; returns the cookie value and the session. */
  create(principal: Principal): { id: string; session: WebSession } {
    const id = randomBytes(32).toString('base64url');
    const now = this.#now();
    const session: WebSession = { principal, csrf: randomBytes(32).toString('base64url'), createdAt: now, expiresAt: now + this.#ttlMs };
    this.#byHash.set(hashId(id), session);
    return { id, session };
  }

  /** The live session with this id (the session cookie's value), if any. */
  find(id: string | undefined): WebSession | undefined {
    if (!id || id.length > 100) return undefined;
    const key = hashId(id);
    const session = this.#byHash.get(key);
    if (!session) return undefined;
    if (session.expiresAt <= this.#now()) {
      this.#byHash.delete(key);
      return undefined;
    }
    return session;
  }

  /** Like find, but throws NotSignedInError when there is no live session. */
  require(id: string | undefined): WebSession {
    const session = this.find(id);
    if (!session) throw new NotSignedInError();
    return session;
  }

  /** Throws CsrfError unless `given` is the session's CSRF token. */
  checkCsrf(session: WebSession, given: unknown): void {
    if (typeof given !== 'string' || !sameSecret(given, session.csrf)) throw new CsrfError();
  }

  /** Ends the session with this id (sign-out). */
  delete(id: string | undefined): void {
    if (id) this.#byHash.delete(hashId(id));
  }

  /** Ends every session of one API token (for instance when it turns out revoked). */
  deleteForToken(tokenId: string): void {
    for (const [key, s] of this.#byHash) if (s.principal.tokenId === tokenId) this.#byHash.delete(key);
  }

  /** Drops expired sessions. */
  sweep(): void {
    const now = this.#now();
    for (const [key, s] of this.#byHash) if (s.expiresAt <= now) this.#byHash.delete(key);
  }
}

function hashId(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}
