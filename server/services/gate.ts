// The one place where callers are let in or refused: authentication of an API token, the role an
// operation needs, and what lies outside a limited token's scope. Every refusal is audited here,
// with the operation's name (the Control method's) as the target, whichever adapter (gRPC or
// HTTP) the request came through, so both answer and audit alike.
import { parseApiToken } from '../../common/join-token';
import { FleetError } from '../../common/errors';
import type { Access } from '../access';
import type { ApiAuth, Principal } from '../auth';
import { TooManySignInsError } from '../errors';
import type { AuditLog, Role } from '../store';
import { actorOf, type Caller } from './caller';

/** How often a held-back address is audited at most: one row a minute, however fast it tries. */
const HELD_BACK_AUDIT_MS = 60_000;

export class Gate {
  readonly #auth: ApiAuth;
  readonly #audit: AuditLog;
  readonly access: Access;
  /** When each held-back address was last audited. */
  readonly #heldBack = new Map<string, number>();

  constructor(d: { auth: ApiAuth; audit: AuditLog; access: Access }) {
    this.#auth = d.auth;
    this.#audit = d.audit;
    this.access = d.access;
  }

  /**
   * Checks an API token presented for `operation` (a bearer header or a web session's token).
   * @throws NotAuthenticatedError, TooManySignInsError (audited)
   */
  async authenticate(token: string, address: string, operation: string): Promise<Caller> {
    try {
      return { principal: await this.#auth.check(token, address), address };
    } catch (err) {
      const claimed = parseApiToken(token)?.id;
      await this.refused(claimed ? `api:${claimed}` : 'anonymous', address, operation, err);
      throw err;
    }
  }

  /**
   * A caller whose token was checked before (a web session); the role and scope are the token's.
   * The session layer rechecks revocation itself.
   */
  trusted(principal: Principal, address: string): Caller {
    return { principal, address };
  }

  /**
   * Throws ForbiddenError unless the caller has at least `role` (audited by the services'
   * refusal wrapper, like every Forbidden error a method throws).
   * @throws ForbiddenError
   */
  require(caller: Caller, role: Role): void {
    this.#auth.require(caller.principal, role);
  }

  /** Audits a refusal the caller sees as "not found" (something outside its token's scope). */
  async hidden(caller: Caller, operation: string, what: string): Promise<void> {
    await this.#audit.record({ actor: actorOf(caller), action: 'access.denied', target: operation, ok: false, detail: `${what} is outside the token's scope (${caller.principal.scope}); answered not found` });
  }

  /**
   * Audits a refusal of `operation`: a bad or missing token, a role too low, something outside
   * the token's scope, an address held back after too many failures.
   */
  async refused(actor: string, address: string, operation: string, err: unknown): Promise<void> {
    if (err instanceof TooManySignInsError) {
      // A held-back guesser gets one row a minute, so it cannot fill the log.
      const now = Date.now();
      if (now - (this.#heldBack.get(address) ?? 0) < HELD_BACK_AUDIT_MS) return;
      this.#heldBack.set(address, now);
      if (this.#heldBack.size > 10_000) this.#heldBack.clear();
    }
    const message = err instanceof FleetError ? err.message : String(err);
    await this.#audit.record({ actor, action: 'access.denied', target: operation, ok: false, detail: `from ${address}: ${message}` });
  }
}
