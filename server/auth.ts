// Operator authentication: API tokens with a role (viewer < operator < admin), optionally limited
// to the nodes matching a label selector (the token's scope, enforced by server/access.ts), checked
// on every Control call and web route. Failed sign-ins are counted per address; past a limit the
// address's wrong tokens are held back, its valid ones never (server/sign-in-limiter.ts).
import { formatApiToken, hashSecret, newTokenSecret, parseApiToken, secretMatches } from '../common/join-token';
import { parseSelector } from '../common/labels';
import { ForbiddenError, NotAuthenticatedError } from './errors';
import { MemorySignInLimits, type SignInLimits } from './sign-in-limiter';
import { Role, type TokenStore } from './store';

export interface Principal {
  tokenId: string;
  role: Role;
  description: string;
  /** The selector this token is limited to ('' = every node). */
  scope: string;
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export class ApiAuth {
  readonly #tokens: TokenStore;
  readonly #limiter: SignInLimits;

  constructor(tokens: TokenStore, limiter: SignInLimits = new MemorySignInLimits({ max: 10 })) {
    this.#tokens = tokens;
    this.#limiter = limiter;
  }

  /** Creates the first admin token when there is none yet; returns it (to print once) or null. */
  async bootstrapAdmin(): Promise<string | null> {
    const { id, secret } = newTokenSecret();
    const first = { id, secretHash: hashSecret(secret), role: Role.Admin, description: 'first admin (created at first start)', scope: '', createdAt: Date.now(), revokedAt: null };
    // Inserted only into an empty table: of replicas starting together, one prints a token.
    return (await this.#tokens.insertFirstApi(first)) ? formatApiToken(id, secret) : null;
  }

  /**
   * Creates an API token with a role and an optional scope (a label selector, validated here);
   * returns its id and the secret token (shown once).
   * @throws InvalidSelectorError when the scope does not parse
   */
  async createToken(role: Role, description: string, scope = ''): Promise<{ id: string; token: string }> {
    parseSelector(scope);
    const { id, secret } = newTokenSecret();
    await this.#tokens.insertApi({ id, secretHash: hashSecret(secret), role, description, scope, createdAt: Date.now(), revokedAt: null });
    return { id, token: formatApiToken(id, secret) };
  }

  /**
   * Checks an API token (from a header or a sign-in form).
   * @throws NotAuthenticatedError, TooManySignInsError
   */
  async check(text: string, address = ''): Promise<Principal> {
    try {
      const parsed = parseApiToken(text);
      if (!parsed) throw new NotAuthenticatedError(text ? 'the API token is malformed (expected fa1_…)' : undefined);
      const record = await this.#tokens.getApi(parsed.id);
      if (!record || record.revokedAt !== null || !secretMatches(parsed.secret, record.secretHash)) {
        throw new NotAuthenticatedError('the API token is not valid on this server (revoked, or for another server)');
      }
      return { tokenId: record.id, role: record.role, description: record.description, scope: record.scope };
    } catch (err) {
      // No token at all is a client that forgot to log in, not a guess. Past the limit, this
      // throws TooManySignInsError instead.
      if (address && text) await this.#limiter.failed(address);
      throw err;
    }
  }

  /** Throws ForbiddenError unless the principal has at least `needed`. */
  require(principal: Principal, needed: Role): void {
    if (RANK[principal.role] < RANK[needed]) throw new ForbiddenError(principal.role, needed);
  }
}

/** The address part of a grpc-js peer ("ipv4:1.2.3.4:555", "ipv6:[::1]:555", "1.2.3.4:555"). */
export function peerAddress(peer: string): string {
  const text = peer.replace(/^ipv[46]:/, '');
  const bracketed = /^\[([^\]]+)\]/.exec(text);
  if (bracketed) return bracketed[1]!;
  const hostPort = /^([^:]+):\d+$/.exec(text);
  return hostPort ? hostPort[1]! : text;
}
