// Tokens and users: who the caller is, join tokens (to enroll nodes) and API tokens (the users of
// the CLI, the web page and scripts, each with a role and an optional scope). Admin only, but
// WhoAmI, which every role may ask.
import { formatJoinToken, hashSecret, newTokenSecret } from '../../common/join-token';
import { parseSelector, validateLabels } from '../../common/labels';
import { VERSION } from '../../common/version';
import type {
  CreateApiTokenRequest,
  CreateApiTokenResponse,
  CreateJoinTokenRequest,
  CreateJoinTokenResponse,
  JoinToken,
  ListApiTokensResponse,
  ListJoinTokensResponse,
  RevokeApiTokenRequest,
  RevokeApiTokenResponse,
  RevokeJoinTokenRequest,
  WhoAmIResponse,
} from '../../proto/gen/fleet/v1/control';
import { FleetError } from '../../common/errors';
import type { ApiAuth, Principal } from '../auth';
import { ApiTokenNotFoundError, InvalidRequestError, TokenNotFoundError } from '../errors';
import { Role, type AuditLog, type JoinTokenRecord, type TokenStore } from '../store';
import { actorOf, type Caller } from './caller';
import type { Gate } from './gate';

const DEFAULT_TOKEN_TTL_MS = 3_600_000;
const MAX_TOKEN_TTL_MS = 365 * 86_400_000;
/** Longest description of a token. */
const MAX_DESCRIPTION = 200;

function toJoinToken(t: JoinTokenRecord): JoinToken {
  return {
    id: t.id,
    description: t.description,
    createdUnixMs: t.createdAt,
    expiresUnixMs: t.expiresAt,
    maxUses: t.maxUses,
    used: t.used,
    revoked: t.revokedAt !== null,
    labels: t.labels,
  };
}

export interface TokensDeps {
  gate: Gate;
  auth: ApiAuth;
  tokens: TokenStore;
  audit: AuditLog;
  caHash: string;
  /** The HTTPS install port and its key pin (filled in once the port is bound). */
  install: { port: number; pin: string };
}

export class TokensService {
  readonly #d: TokensDeps;

  constructor(d: TokensDeps) {
    this.#d = d;
  }

  async whoAmI(caller: Caller): Promise<WhoAmIResponse> {
    this.#d.gate.require(caller, Role.Viewer);
    const p = caller.principal;
    return {
      tokenId: p.tokenId,
      role: p.role,
      serverVersion: VERSION,
      description: p.description,
      installPort: this.#d.install.port,
      installPin: this.#d.install.pin,
      caHash: this.#d.caHash,
      scope: p.scope,
    };
  }

  async createJoinToken(caller: Caller, req: CreateJoinTokenRequest): Promise<CreateJoinTokenResponse> {
    this.#d.gate.require(caller, Role.Admin);
    validateLabels(req.labels);
    const ttl = Number(req.ttlMs) || DEFAULT_TOKEN_TTL_MS;
    if (ttl > MAX_TOKEN_TTL_MS) throw new InvalidRequestError('a join token may live at most 365 days');
    if (req.description.length > MAX_DESCRIPTION) throw new InvalidRequestError(`the description is longer than ${MAX_DESCRIPTION} characters`);
    const { id, secret } = newTokenSecret();
    const now = Date.now();
    const record: JoinTokenRecord = {
      id,
      secretHash: hashSecret(secret),
      description: req.description,
      labels: req.labels,
      createdAt: now,
      createdBy: actorOf(caller),
      expiresAt: now + ttl,
      maxUses: req.maxUses || 1,
      used: 0,
      revokedAt: null,
    };
    await this.#d.tokens.insertJoin(record);
    await this.#d.audit.record({ actor: actorOf(caller), action: 'token.create', target: id, ok: true, detail: `uses ${record.maxUses}, expires ${new Date(record.expiresAt).toISOString()}` });
    return { info: toJoinToken(record), token: formatJoinToken({ id, secret, caHash: this.#d.caHash }) };
  }

  async listJoinTokens(caller: Caller): Promise<ListJoinTokensResponse> {
    this.#d.gate.require(caller, Role.Admin);
    return { tokens: (await this.#d.tokens.listJoin()).map(toJoinToken) };
  }

  async revokeJoinToken(caller: Caller, req: RevokeJoinTokenRequest): Promise<JoinToken> {
    this.#d.gate.require(caller, Role.Admin);
    const record = await this.#d.tokens.getJoin(req.id);
    if (!record) throw new TokenNotFoundError(req.id);
    await this.#d.tokens.revokeJoin(record.id, Date.now());
    await this.#d.audit.record({ actor: actorOf(caller), action: 'token.revoke', target: record.id, ok: true });
    return toJoinToken((await this.#d.tokens.getJoin(record.id))!);
  }

  async createApiToken(caller: Caller, req: CreateApiTokenRequest): Promise<CreateApiTokenResponse> {
    this.#d.gate.require(caller, Role.Admin);
    if (!(Object.values(Role) as string[]).includes(req.role)) throw new InvalidRequestError(`role must be one of ${Object.values(Role).join(', ')}`);
    if (req.description.length > MAX_DESCRIPTION) throw new InvalidRequestError(`the description is longer than ${MAX_DESCRIPTION} characters`);
    const scope = req.scope.trim();
    if (scope && req.role === Role.Admin) throw new InvalidRequestError('an admin token manages the whole fleet and cannot be limited to a selector; give the limited token the operator or viewer role');
    if (scope && parseSelector(scope).empty) throw new InvalidRequestError('the scope selector is empty');
    const created = await this.#d.auth.createToken(req.role as Role, req.description, scope);
    await this.#d.audit.record({ actor: actorOf(caller), action: 'token.api.create', target: created.id, ok: true, detail: `role ${req.role}${scope ? `, limited to ${scope}` : ''}` });
    return created;
  }

  async listApiTokens(caller: Caller): Promise<ListApiTokensResponse> {
    this.#d.gate.require(caller, Role.Admin);
    return {
      tokens: (await this.#d.tokens.listApi()).map((t) => ({
        id: t.id,
        role: t.role,
        description: t.description,
        scope: t.scope,
        createdUnixMs: t.createdAt,
        revoked: t.revokedAt !== null,
        revokedUnixMs: t.revokedAt ?? 0,
      })),
    };
  }

  async revokeApiToken(caller: Caller, req: RevokeApiTokenRequest): Promise<RevokeApiTokenResponse> {
    this.#d.gate.require(caller, Role.Admin);
    // Revoking a revoked token again is not an error (scripts may retry); an unknown id is.
    if (!(await this.#d.tokens.revokeApi(req.id, Date.now())) && !(await this.#d.tokens.listApi()).some((t) => t.id === req.id)) throw new ApiTokenNotFoundError(req.id);
    await this.#d.audit.record({ actor: actorOf(caller), action: 'token.api.revoke', target: req.id, ok: true });
    return {};
  }

  /**
   * Checks the API token a person pasted into the web page's sign-in form (no role needed: every
   * role may use the page) and audits the sign-in (`web.login`). A failure is not audited here:
   * the page's adapter first asks its sign-in limiter, then calls signInFailed.
   * @throws NotAuthenticatedError
   */
  async signIn(token: string, address: string): Promise<Principal> {
    const principal = await this.#d.auth.check(token);
    await this.#d.audit.record({ actor: actorOf(principal), action: 'web.login', target: address, ok: true, detail: `role ${principal.role}` });
    return principal;
  }

  /** Audits a refused web sign-in (a bad token or body) from `address`. */
  async signInFailed(address: string, err: unknown): Promise<void> {
    await this.#d.audit.record({ actor: `web:${address}`, action: 'web.login', target: address, ok: false, detail: err instanceof FleetError ? err.code : 'error' });
  }

  /** Audits a web sign-out. */
  async signOut(caller: Caller): Promise<void> {
    await this.#d.audit.record({ actor: actorOf(caller), action: 'web.logout', target: caller.address, ok: true });
  }

  /** True while an API token is known and not revoked (a web session ends with its token). */
  async tokenLive(tokenId: string): Promise<boolean> {
    const token = await this.#d.tokens.getApi(tokenId);
    return token !== undefined && token.revokedAt === null;
  }
}
