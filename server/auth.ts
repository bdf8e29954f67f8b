// Operator authentication: API tokens with a role, checked on every Control call.
import type { Metadata } from '@grpc/grpc-js';
import { formatApiToken, hashSecret, newTokenSecret, parseApiToken, secretMatches } from '../common/join-token';
import { ForbiddenError, NotAuthenticatedError } from './errors';
import { Role, type TokenStore } from './store/token-store';

export interface Principal {
  tokenId: string;
  role: Role;
  description: string;
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export class ApiAuth {
  readonly #tokens: TokenStore;

  constructor(tokens: TokenStore) {
    this.#tokens = tokens;
  }

  /** Creates the first admin token when there is none yet; returns it (to print once) or null. */
  bootstrapAdmin(): string | null {
    if (this.#tokens.countApi() > 0) return null;
    return this.createToken(Role.Admin, 'first admin (created at first start)').token;
  }

  /** Creates an API token with a role; returns its id and the secret token (shown once). */
  createToken(role: Role, description: string): { id: string; token: string } {
    const { id, secret } = newTokenSecret();
    this.#tokens.insertApi({ id, secretHash: hashSecret(secret), role, description, createdAt: Date.now(), revokedAt: null });
    return { id, token: formatApiToken(id, secret) };
  }

  /** Checks the bearer token in call metadata. */
  authenticate(metadata: Metadata): Principal {
    const header = metadata.get('authorization')[0];
    return this.check(typeof header === 'string' ? header.replace(/^Bearer\s+/i, '') : '');
  }

  /** Checks an API token (from a header or a sign-in form). */
  check(text: string): Principal {
    const parsed = parseApiToken(text);
    if (!parsed) throw new NotAuthenticatedError(text ? 'the API token is malformed (expected fa1_…)' : undefined);
    const record = this.#tokens.getApi(parsed.id);
    if (!record || record.revokedAt !== null || !secretMatches(parsed.secret, record.secretHash)) {
      throw new NotAuthenticatedError('the API token is not valid on this server (revoked, or for another server)');
    }
    return { tokenId: record.id, role: record.role, description: record.description };
  }

  /** Throws ForbiddenError unless the principal has at least `needed`. */
  require(principal: Principal, needed: Role): void {
    if (RANK[principal.role] < RANK[needed]) throw new ForbiddenError(principal.role, needed);
  }
}
