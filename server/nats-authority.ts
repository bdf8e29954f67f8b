// The fleet's NATS trust chain (decentralized JWT auth): an operator, one account for fleet
// traffic and the system account, each an nkey kept in the key material (DATA/nats, seeds mode
// 0600, or the database replicas share) with its JWT. The server signs a user JWT for every agent
// at enrollment (for the public nkey the agent made; the seed never leaves the agent) allowing only
// that node's subjects, and one for itself.
// `fleet-server nats-config` prints the block brokers need to trust all of it.
import { createAccount, createOperator, createUser, encodeAccount, encodeOperator, encodeUser, fmtCreds, fromPublic, fromSeed, type KeyPair } from '@nats-io/jwt';
import { agentPermissions, nativeSigner, serverPermissions, type SubjectPermissions } from '../transport';
import { InvalidEnrollmentError } from './errors';
import { keyMaterialOf, type KeyMaterialStore } from './key-material';

/** An identity in the chain: its key pair (with seed) and its JWT. */
interface Signed {
  kp: KeyPair;
  jwt: string;
}

const ACCOUNT_LIMITS = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

export class NatsAuthority {
  private constructor(
    readonly operator: Signed,
    readonly account: Signed,
    readonly system: Signed,
  ) {}

  /**
   * Loads the operator and accounts from the key material (a data directory's `nats/`, or `keys`
   * shared by replicas), creating them on first use. Each seed is created once (the first
   * replica's wins) and each JWT made from the seeds stored, so replicas starting together end
   * with one operator and the same configuration block.
   */
  static async loadOrCreate(keys: string | KeyMaterialStore): Promise<NatsAuthority> {
    const store = keyMaterialOf(keys);
    const key = async (name: 'operator' | 'account' | 'system', create: () => KeyPair): Promise<KeyPair> => {
      const { value } = await store.createIfAbsent(`nats/${name}.nk`, () => `${new TextDecoder().decode(create().getSeed())}\n`);
      return fromSeed(Buffer.from(value.trim()));
    };
    // JWTs are written once, so every `nats-config` prints the same block.
    const jwt = async (name: 'operator' | 'account' | 'system', make: () => Promise<string>): Promise<string> => {
      const { value } = await store.createIfAbsent(`nats/${name}.jwt`, async () => `${await make()}\n`);
      return value.trim();
    };
    const operatorKp = await key('operator', createOperator);
    const accountKp = await key('account', createAccount);
    const systemKp = await key('system', createAccount);
    const systemPub = systemKp.getPublicKey();
    const operator = { kp: operatorKp, jwt: await jwt('operator', () => encodeOperator('fleet', operatorKp, { system_account: systemPub })) };
    const account = { kp: accountKp, jwt: await jwt('account', () => encodeAccount('fleet', accountKp, { limits: ACCOUNT_LIMITS }, { signer: operatorKp })) };
    const system = { kp: systemKp, jwt: await jwt('system', () => encodeAccount('SYS', systemKp, { limits: ACCOUNT_LIMITS }, { signer: operatorKp })) };
    return new NatsAuthority(operator, { kp: nativeSigner(accountKp), jwt: account.jwt }, system);
  }

  /** A user JWT for `publicKey` (a user nkey, "U…") with exactly `permissions`. */
  async issueUser(name: string, publicKey: string, permissions: SubjectPermissions, expiresAtMs?: number): Promise<string> {
    return await encodeUser(name, fromPublic(publicKey), this.account.kp, { ...permissions, subs: -1, data: -1, payload: -1 }, expiresAtMs ? { exp: Math.floor(expiresAtMs / 1000) } : {});
  }

  /**
   * The user JWT for one agent: its own subjects only. It does not expire: it only confines the
   * agent on the brokers; being a fleet node is proven by the certificate in every Hello, which is
   * renewed, replaced and revoked (node removal) exactly as on gRPC (docs/scale-out.md).
   * @throws InvalidEnrollmentError when `publicKey` is not a user nkey.
   */
  async issueAgent(nodeId: string, publicKey: string): Promise<string> {
    if (!isUserKey(publicKey)) throw new InvalidEnrollmentError('the NATS public key is not a user nkey (U…)');
    return await this.issueUser(`node ${nodeId}`, publicKey, agentPermissions(nodeId));
  }

  /** A creds file (JWT + seed) for a fleet server: a fresh nkey, the server's permissions. */
  async serverCredentials(name = 'fleet-server'): Promise<string> {
    const kp = createUser();
    const jwt = await this.issueUser(name, kp.getPublicKey(), serverPermissions());
    return new TextDecoder().decode(fmtCreds(jwt, kp));
  }

  /** The nats-server configuration block that makes a broker trust this fleet's operator. */
  configBlock(): string {
    const acc = this.account.kp.getPublicKey();
    const sys = this.system.kp.getPublicKey();
    return [
      '# fleet: NATS trust (decentralized JWT auth), printed by `fleet-server nats-config`.',
      '# Put the same block in the configuration of every broker of the cluster.',
      `operator: ${this.operator.jwt}`,
      `system_account: ${sys}`,
      'resolver: MEMORY',
      'resolver_preload: {',
      '  # fleet: agents (each limited to its own subjects) and fleet servers',
      `  ${acc}: ${this.account.jwt}`,
      '  # SYS: the system account',
      `  ${sys}: ${this.system.jwt}`,
      '}',
      '',
    ].join('\n');
  }
}

/** True for a valid user public nkey. */
export function isUserKey(text: string): boolean {
  if (!/^U[A-Z2-7]{55}$/.test(text)) return false;
  try {
    fromPublic(text);
    return true;
  } catch {
    return false;
  }
}
