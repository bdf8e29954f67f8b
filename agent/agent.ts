// The agent's main loop: keep one link to the server open (reconnecting with exponential backoff
// and full jitter), say Hello, send heartbeats and inventory, verify and run signed commands, and
// replay spooled results until the server acknowledges them.
import { X509Certificate, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { Command, type ServerMessage } from '../proto/gen/fleet/v1/agent';
import type { Facts } from '../proto/gen/fleet/v1/common';
import { VERSION } from '../common/version';
import { fitRequest } from '../common/limits';
import type { AgentLink, AgentTransport } from '../transport';
import { CommandRefusedError } from './errors';
import { runCommand, type CommandRunner } from './exec';
import { Inventory, factsFingerprint } from './inventory';
import { runShell } from './shell';
import { Spool } from './spool';
import { stageUpgrade, upgradeTarget, type UpgradeMarkers } from './upgrade';
import type { AgentIdentity, AgentState } from './state';
import { newKeyAndCsr } from './enroll';
import { DesiredStateRunner } from './desired-state';
import { ReplayGuard } from './replay-guard';
import type { AgentTransportMaker } from './transports';

export interface AgentOptions {
  /** How often to re-read inventory (its cheap facts; slow ones hourly) and send it if it changed. */
  inventoryIntervalMs: number;
  /** Renew the client certificate when it has less than this left (checked at each connect and twice a day). */
  renewBeforeMs: number;
  /** Reconnect backoff: the first delay cap and the largest. */
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /** Root prefix for desired-state resources ('/' on a real node). */
  root: string;
  /** How often desired state is re-checked for drift. */
  recheckIntervalMs: number;
  /**
   * A link with no Welcome by then is given up and tried again. When thousands of agents reconnect
   * at once, a dropped SYN would otherwise leave a connect hanging for the kernel's two minutes of
   * retransmissions, while a fresh attempt gets through in seconds.
   */
  welcomeTimeoutMs: number;
}

export const defaultAgentOptions = (): AgentOptions => ({
  inventoryIntervalMs: 60_000,
  renewBeforeMs: 30 * 86_400_000,
  reconnectBaseMs: 500,
  reconnectMaxMs: 30_000,
  root: '/',
  recheckIntervalMs: 5 * 60_000,
  welcomeTimeoutMs: 30_000,
});

/** Full-jitter exponential backoff: a random delay in [0, min(max, base × 2^attempt)]. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  return Math.floor(random() * Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30)));
}

export interface AgentDeps {
  identity: AgentIdentity;
  state: AgentState;
  spool: Spool;
  markers: UpgradeMarkers;
  log: Logger;
  options?: AgentOptions;
  /** Runs exec commands; default: real processes (agent/exec.ts). The emulator passes a synthetic one. */
  runCommand?: CommandRunner;
  /** Reads the inventory; default: an Inventory of this machine (agent/inventory.ts). The emulator passes cheap synthetic facts. */
  collectFacts?: () => Promise<Facts>;
  /** False refuses self-upgrade commands (emulated agents share one executable). Default true. */
  selfUpgrade?: boolean;
  /** Makes the link to the server for an identity, again after each renewal (agent/transports.ts). */
  transport: AgentTransportMaker;
}

export class Agent {
  #identity: AgentIdentity;
  readonly #state: AgentState;
  readonly #spool: Spool;
  readonly #log: Logger;
  readonly #options: AgentOptions;
  #transport: AgentTransport;
  readonly #signingKey: KeyObject;
  readonly #running = new Set<string>();
  readonly #channels = new Set<string>();
  readonly #markers: UpgradeMarkers;
  #upgrading = false;
  /** True after an upgrade was staged: the process should exit so the launcher restarts it. */
  restartRequested = false;
  #link: AgentLink | null = null;
  #welcomed = false;
  #stopped = false;
  #lastFacts = '';
  /** The collection under way, and whether another was asked for meanwhile. */
  #collecting: Promise<void> | null = null;
  #collectAgain = false;
  #wake: (() => void) | null = null;
  readonly #desired: DesiredStateRunner;
  readonly #runCommand: CommandRunner;
  readonly #collectFacts: () => Promise<Facts>;
  readonly #inventory: Inventory | null;
  readonly #selfUpgrade: boolean;
  readonly #makeTransport: AgentTransportMaker;
  readonly #replay: ReplayGuard;

  constructor(deps: AgentDeps) {
    this.#identity = deps.identity;
    this.#state = deps.state;
    this.#markers = deps.markers;
    this.#spool = deps.spool;
    this.#log = deps.log;
    this.#options = deps.options ?? defaultAgentOptions();
    this.#runCommand = deps.runCommand ?? runCommand;
    // The fqdn is looked up in the background: send the facts again once it is known.
    this.#inventory = deps.collectFacts ? null : new Inventory({ onChange: () => this.#sendInventory() });
    this.#collectFacts = deps.collectFacts ?? (() => this.#inventory!.collect());
    this.#selfUpgrade = deps.selfUpgrade ?? true;
    this.#makeTransport = deps.transport;
    this.#replay = new ReplayGuard(deps.state.seenCommandsFile, Date.now, deps.state.legacySeenCommandsFile);
    this.#signingKey = createPublicKey({ key: deps.identity.commandSigningKey, format: 'der', type: 'spki' });
    this.#transport = this.#makeTransport(this.#identity);
    this.#desired = new DesiredStateRunner({
      root: this.#options.root,
      stateDir: deps.state.dir,
      recheckIntervalMs: this.#options.recheckIntervalMs,
      identity: () => this.#identity,
      send: (body) => this.#link?.send({ body }) ?? false,
      log: deps.log.child({ part: 'state' }),
    });
  }

  /**
   * Renews the client certificate (with a new key) when it is close to expiry. Returns true when
   * it did: the caller reconnects, since the old certificate is no longer accepted.
   */
  /** How long until the client certificate should be renewed (negative when overdue). */
  #renewalDueInMs(): number {
    return Date.parse(new X509Certificate(this.#identity.certPem).validTo) - this.#options.renewBeforeMs - Date.now();
  }

  async #renewIfDue(): Promise<boolean> {
    if (this.#renewalDueInMs() > 0) return false;
    const { keyPem, csrPem } = await newKeyAndCsr(hostname());
    const certPem = await this.#transport.renew(csrPem);
    this.#state.saveCredentials(keyPem, certPem);
    this.#identity = { ...this.#identity, keyPem, certPem };
    void this.#transport.close();
    this.#transport = this.#makeTransport(this.#identity);
    this.#log.info({ validTo: new X509Certificate(certPem).validTo }, 'client certificate renewed');
    return true;
  }

  /** Runs until stop(): connect, serve, and reconnect after every loss. */
  async run(): Promise<void> {
    this.#spool.recover();
    this.#desired.start();
    let attempt = 0;
    while (!this.#stopped) {
      const started = Date.now();
      const error = await this.#serveOnce();
      if (this.#stopped) break;
      // A link that was up for a while resets the backoff.
      if (this.#welcomed && Date.now() - started > 10_000) attempt = 0;
      const delay = backoffDelay(attempt++, this.#options.reconnectBaseMs, this.#options.reconnectMaxMs);
      this.#log.warn({ reason: error?.message ?? 'link closed', retryInMs: delay }, 'disconnected from server');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#wake = null;
    }
    this.#desired.stop();
    await this.#inventory?.stop();
    await this.#transport.close();
    this.#replay.close();
  }

  /** Stops reconnecting, closes the link and stops inventory lookups; running commands keep their spool. */
  stop(): void {
    this.#stopped = true;
    void this.#inventory?.stop();
    this.#link?.close();
    this.#wake?.();
  }

  /** One connection: resolves with the reason when it ends. */
  #serveOnce(): Promise<Error | undefined> {
    return new Promise((resolve) => {
      this.#welcomed = false;
      let heartbeat: NodeJS.Timeout | undefined;
      let inventory: NodeJS.Timeout | undefined;
      let renewal: NodeJS.Timeout | undefined;
      let lastHeard = Date.now();
      const welcomeTimer = setTimeout(() => {
        this.#log.warn({ afterMs: this.#options.welcomeTimeoutMs }, 'no Welcome from the server; connecting again');
        link.close();
      }, this.#options.welcomeTimeoutMs);
      const link = withinLimits(this.#transport.connect({
        onMessage: (message) => {
          lastHeard = Date.now();
          if (message.body?.$case === 'welcome' && !this.#welcomed) {
            clearTimeout(welcomeTimer);
            this.#welcomed = true;
            const interval = message.body.value.heartbeatIntervalMs || 5000;
            this.#log.info({ node: message.body.value.nodeName, server: message.body.value.serverVersion }, 'connected');
            // The server has seen how the last upgrade ended (or this new version is healthy).
            this.#markers.settle();
            heartbeat = setInterval(() => {
              // No word from the server for three intervals: the link is dead even if TCP says not.
              if (Date.now() - lastHeard > interval * 3) link.close();
              else link.send({ body: { $case: 'heartbeat', value: { sentUnixMs: Date.now() } } });
            }, interval);
            this.#lastFacts = '';
            this.#sendInventory();
            // Renew when due (checked now, then when the time comes); a renewal reconnects.
            const schedule = (ms: number) => {
              clearTimeout(renewal);
              renewal = setTimeout(check, Math.min(Math.max(ms, 1000), 12 * 3_600_000));
            };
            const check = () =>
              void this.#renewIfDue().then(
                (renewed) => (renewed ? link.close() : schedule(this.#renewalDueInMs())),
                (err: Error) => {
                  this.#log.warn({ reason: err.message }, 'could not renew the client certificate; trying again in a minute');
                  schedule(60_000);
                },
              );
            check();
            inventory = setInterval(() => this.#sendInventory(), this.#options.inventoryIntervalMs);
            for (const event of this.#spool.unacknowledged()) link.send({ body: { $case: 'execEvent', value: event } });
            this.#desired.reportAll();
            return;
          }
          this.#handle(message);
        },
        onClose: (error) => {
          clearTimeout(welcomeTimer);
          clearInterval(heartbeat);
          clearInterval(inventory);
          clearTimeout(renewal);
          this.#link = null;
          resolve(error);
        },
      }));
      this.#link = link;
      link.send({ body: { $case: 'hello', value: { agentVersion: VERSION, knownJobIds: this.#spool.knownJobIds(), upgrade: this.#markers.report() } } });
    });
  }

  /** Collects the facts and sends them when they changed; one collection at a time. */
  #sendInventory(): void {
    if (this.#collecting) {
      this.#collectAgain = true;
      return;
    }
    this.#collecting = this.#collectAndSend().finally(() => {
      this.#collecting = null;
      if (this.#collectAgain && !this.#stopped) {
        this.#collectAgain = false;
        this.#sendInventory();
      }
    });
  }

  async #collectAndSend(): Promise<void> {
    try {
      const facts = await this.#collectFacts();
      const fingerprint = factsFingerprint(facts);
      if (fingerprint === this.#lastFacts) return;
      if (this.#link?.send({ body: { $case: 'inventory', value: { facts } } })) this.#lastFacts = fingerprint;
    } catch (err) {
      this.#log.warn({ err }, 'could not collect inventory');
    }
  }

  #handle(message: ServerMessage): void {
    switch (message.body?.$case) {
      case 'ack':
        this.#spool.ack(message.body.value.jobId, Number(message.body.value.seq));
        return;
      case 'command': {
        const { payload, signature } = message.body.value;
        let command: Command | undefined;
        try {
          command = this.#verify(Buffer.from(payload), Buffer.from(signature));
          this.#replay.accept(command);
          if (command.body?.$case === 'upgrade') {
            if (!this.#selfUpgrade) throw new CommandRefusedError('this agent does not upgrade itself (it is emulated)');
            void this.#upgrade(command);
          } else if (command.body?.$case === 'shell') this.#shell(command);
          else if (command.body?.$case === 'apply') this.#desired.handle(command.id, command.body.value);
          else this.#execute(command);
        } catch (err) {
          this.#reject(command, err);
        }
        return;
      }
      default:
        return;
    }
  }

  #reject(command: Command | undefined, err: unknown): void {
    const reason = err instanceof CommandRefusedError ? err.message : `cannot run the command: ${(err as Error).message}`;
    this.#log.warn({ reason, command: command?.id }, 'command refused');
    const jobId = command?.body?.$case === 'exec' ? command.body.value.jobId : '';
    this.#link?.send({ body: { $case: 'commandRejected', value: { commandId: command?.id ?? '', jobId, reason } } });
  }

  /**
   * Lets running commands finish (their results are spooled either way), swaps in the new
   * executable and stops, so the launcher starts the new one. Commands that arrive meanwhile
   * still run.
   */
  async #upgrade(command: Command): Promise<void> {
    if (command.body?.$case !== 'upgrade' || this.#upgrading) return;
    const upgrade = command.body.value;
    this.#upgrading = true;
    try {
      upgradeTarget();
      this.#log.info({ version: upgrade.version, running: this.#running.size }, 'upgrade requested; waiting for running commands');
      for (const until = Date.now() + 60_000; this.#running.size > 0 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 100));
      await stageUpgrade(upgrade, this.#identity, this.#markers);
      this.#log.info({ version: upgrade.version }, 'new executable in place; restarting into it');
      this.restartRequested = true;
      this.stop();
    } catch (err) {
      this.#upgrading = false;
      this.#reject(command, err);
    }
  }

  /** Checks the server's signature, the target node and the expiry; returns the command. */
  #verify(payload: Buffer, signature: Buffer): Command {
    if (!verify(null, payload, this.#signingKey, signature)) throw new CommandRefusedError('bad signature: not signed by the server this agent enrolled with');
    const command = Command.decode(payload);
    if (command.nodeId !== this.#identity.nodeId) throw new CommandRefusedError(`the command is for node ${command.nodeId}, not this one`);
    if (Number(command.notAfterUnixMs) < Date.now()) throw new CommandRefusedError('the command has expired (is this machine\'s clock right?)');
    return command;
  }

  #shell(command: Command): void {
    if (command.body?.$case !== 'shell') return;
    const shell = command.body.value;
    if (this.#channels.has(shell.channelId)) return;
    this.#channels.add(shell.channelId);
    this.#log.info({ channel: shell.channelId, pty: shell.pty, argv: shell.argv.length ? shell.argv : undefined }, 'opening shell');
    void runShell(shell, this.#transport, this.#log).finally(() => this.#channels.delete(shell.channelId));
  }

  #execute(command: Command): void {
    if (command.body?.$case !== 'exec') throw new CommandRefusedError('unknown command type');
    // Restarting into a new version: the server sends in-flight commands again after the reconnect.
    if (this.restartRequested) return;
    const exec = command.body.value;
    if (!Spool.validJobId(exec.jobId)) throw new CommandRefusedError('malformed job id');
    // Re-sent after a reconnect: already running or done, so never run twice.
    if (this.#running.has(exec.jobId) || this.#spool.knows(exec.jobId)) return;
    this.#running.add(exec.jobId);
    this.#spool.begin(exec.jobId);
    this.#log.info({ job: exec.jobId, argv: exec.argv, shell: exec.shell || undefined }, 'running command');
    void this.#runCommand(exec, (body) => {
      const event = this.#spool.append(exec.jobId, body);
      // Before Welcome the spool replay has not gone out yet: sending now would put this event
      // ahead of older unacknowledged ones (the replay at Welcome sends it, in order).
      if (this.#welcomed) this.#link?.send({ body: { $case: 'execEvent', value: event } });
    }).finally(() => this.#running.delete(exec.jobId));
  }
}

/**
 * The link with every message's text cut to the server's limits (common/limits.ts): an unusually
 * long error text of ours is shortened rather than get the link refused (and the spooled result
 * sent again and refused again at every reconnect).
 */
function withinLimits(link: AgentLink): AgentLink {
  return { send: (message) => link.send(fitRequest('/fleet.v1.AgentService/Connect', message)), close: () => link.close() };
}
