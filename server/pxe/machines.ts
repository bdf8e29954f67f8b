// Bare-metal provisioning: machines, the PXE config, what a booting machine is answered (its
// profile with a single-use, short-lived token bound to it, the discovery image, or `exit` once
// provisioned), its cloud-init data, and the enrollment policy for machine-bound tokens. MAC, UUID,
// serial and source address are hints; the token is the proof.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { quote } from '../../common/format';
import { formatJoinToken, hashSecret, newTokenSecret } from '../../common/join-token';
import { validateLabels, type Labels } from '../../common/labels';
import type { MachineIdentity } from '../../proto/gen/fleet/v1/common';
import type { Machine } from '../../proto/gen/fleet/v1/control';
import { InvalidRequestError, JoinTokenRefusedError, MachineConflictError, MachineNotFoundError, MachinePendingError } from '../errors';
import { newId } from '../ids';
import { type AuditLog, type JoinTokenRecord, type MachineRecord, MachineState, type MachineStore, type TokenStore } from '../store';
import { DISCOVERY_ARGS, DISCOVERY_PROFILE, loadPxeConfig, type Profile, type PxeConfig } from './config';
import { isPlaceholder, normalizeMac, usableSerial, usableUuid } from './identities';
import { approvingRule, chooseProfile, type ProfileChoice } from './matching';

const CONFIG_KEY = 'pxe.config';
const CONFIG_FILE_KEY = 'pxe.config.file';
const TOKEN_TTL_MS = 3_600_000;
const PENDING_TOKEN_TTL_MS = 24 * 3_600_000;
/** Unknown machines recorded as pending at most; past this, unknown machines are told to wait. */
const MAX_PENDING = 1000;
const MACHINE_NAME = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;

/** What a boot request says about the machine (all of it can be forged: hints only). */
export interface BootQuery {
  mac: string;
  uuid: string;
  serial: string;
  buildarch: string;
}

/** How the machine reached the PXE port: its address and the Host header it used. */
export interface BootContext {
  remoteAddress: string;
  /** host:port of the PXE port as the machine reached it. */
  host: string;
}

export interface MachinesDeps {
  machines: MachineStore;
  tokens: TokenStore;
  audit: AuditLog;
  log: Logger;
  caHash: string;
  /** The gRPC port agents enroll on, and the HTTPS port serving install.sh with its key pin. */
  grpcPort: () => number;
  install: () => { port: number; pin: string };
  /** Directories that may hold the discovery image (vmlinuz + initrd.img), first found wins. */
  discoveryDirs: string[];
  pxePort: () => number;
}

/** Fills `{{ name }}` variables; an unknown one is an error naming it. */
export function renderTemplate(template: string, vars: Record<string, string>, what: string): string {
  return template.replace(/\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g, (_all, key: string) => {
    const value = vars[key];
    if (value === undefined) throw new InvalidRequestError(`${what}: unknown template variable {{ ${key} }}`);
    return value;
  });
}

/** The host part of a host:port (brackets kept off IPv6). */
function hostOnly(hostPort: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(hostPort) ?? /^([^:]+)(?::\d+)?$/.exec(hostPort);
  return m?.[1] ?? hostPort;
}

const DEFAULT_USER_DATA = `#cloud-config
hostname: {{ machine.name }}
runcmd:
  - [sh, -c, "{{ install_command }}"]
`;

export class Machines {
  readonly #d: MachinesDeps;
  #config: PxeConfig | undefined;

  constructor(deps: MachinesDeps) {
    this.#d = deps;
  }

  /** Reads the stored PXE config (once, at start; setConfig keeps it current). */
  async load(): Promise<void> {
    const yaml = await this.#d.machines.setting(CONFIG_KEY);
    this.#config = yaml ? loadPxeConfig(yaml, (await this.#d.machines.setting(CONFIG_FILE_KEY)) ?? 'pxe.yaml') : undefined;
  }

  /** The PXE config in force (empty until one is set). */
  config(): PxeConfig {
    return this.#config ?? { profiles: [], groups: [], rules: [] };
  }

  async configYaml(): Promise<string> {
    return (await this.#d.machines.setting(CONFIG_KEY)) ?? '';
  }

  /** Validates and stores a new PXE config (throws SpecError with every problem). */
  async setConfig(yaml: string, fileName: string, actor: string): Promise<PxeConfig> {
    const config = loadPxeConfig(yaml, fileName || 'pxe.yaml');
    await this.#d.machines.setSetting(CONFIG_KEY, yaml);
    await this.#d.machines.setSetting(CONFIG_FILE_KEY, fileName || 'pxe.yaml');
    this.#config = config;
    await this.#d.audit.record({ actor, action: 'pxe.config', ok: true, detail: `${config.profiles.length} profile(s), ${config.groups.length} group(s), ${config.rules.length} rule(s)` });
    return config;
  }

  /** The discovery image's directory, when one is available. */
  discoveryDir(): string | undefined {
    return this.#d.discoveryDirs.find((d) => existsSync(join(d, 'vmlinuz')) && existsSync(join(d, 'initrd.img')));
  }

  /** A file of the discovery image, for the PXE port. */
  discoveryFile(name: string): { path: string; size: number } | undefined {
    const dir = this.discoveryDir();
    if (!dir || !['vmlinuz', 'initrd.img'].includes(name)) return undefined;
    const path = join(dir, name);
    return { path, size: statSync(path).size };
  }

  async find(key: string): Promise<MachineRecord> {
    const m = await this.#d.machines.find(key);
    if (!m) throw new MachineNotFoundError(key);
    return m;
  }

  async add(req: { name: string; mac: string; uuid: string; serial: string; profile: string; labels: Labels }, actor: string): Promise<MachineRecord> {
    const mac = req.mac ? normalizeMac(req.mac) : '';
    if (req.mac && !mac) throw new InvalidRequestError(`${quote(req.mac)} is not a MAC address (such as 52:54:00:12:34:56)`);
    for (const [kind, value] of [
      ['uuid', req.uuid],
      ['serial', req.serial],
    ] as const) {
      if (value && isPlaceholder(kind, value)) throw new InvalidRequestError(`${kind} ${quote(value)} is a placeholder that many machines report; register this machine by another identity (--mac)`);
    }
    const serial = req.serial.trim();
    if (!mac && !req.uuid && !serial) throw new InvalidRequestError('give at least one of --mac, --uuid or --serial');
    if (!MACHINE_NAME.test(req.name)) throw new InvalidRequestError(`machine name ${quote(req.name)} is not valid (lower-case letters, digits, "-" and ".")`);
    validateLabels(req.labels);
    if (req.profile && req.profile !== DISCOVERY_PROFILE && !this.config().profiles.some((p) => p.name === req.profile)) {
      throw new InvalidRequestError(`no profile named ${quote(req.profile)} in the PXE config (fleet pxe show)`);
    }
    if (await this.#d.machines.nameTaken(req.name)) throw new MachineConflictError(`a machine named ${req.name} exists already`);
    if (mac && (await this.#d.machines.find(mac))) throw new MachineConflictError(`a machine with MAC ${mac} exists already (${(await this.#d.machines.find(mac))!.name})`);
    const now = Date.now();
    const m: MachineRecord = {
      id: newId('m'),
      name: req.name,
      mac: mac || null,
      uuid: req.uuid.toLowerCase() || null,
      serial: serial || null,
      profile: req.profile,
      labels: req.labels,
      state: MachineState.Registered,
      nodeId: null,
      createdAt: now,
      updatedAt: now,
      lastBootAt: null,
      lastBootAddress: '',
      reported: null,
      approvedBy: actor,
    };
    await this.#d.machines.insert(m);
    await this.#d.audit.record({ actor, action: 'machine.add', target: m.name, ok: true, detail: `mac ${mac || '-'}, uuid ${m.uuid ?? '-'}, serial ${m.serial ?? '-'}, profile ${m.profile || '(groups)'}` });
    return m;
  }

  async list(pendingOnly: boolean): Promise<MachineRecord[]> {
    return await this.#d.machines.list(pendingOnly ? MachineState.Pending : undefined);
  }

  async approve(key: string, change: { name: string; profile: string; labels: Labels }, actor: string): Promise<MachineRecord> {
    const m = await this.find(key);
    if (m.state !== MachineState.Pending && m.state !== MachineState.Rejected) throw new MachineConflictError(`machine ${m.name} is ${m.state}; only pending or rejected machines are approved`);
    validateLabels(change.labels);
    if (change.name && !MACHINE_NAME.test(change.name)) throw new InvalidRequestError(`machine name ${quote(change.name)} is not valid`);
    if (change.name && change.name !== m.name && (await this.#d.machines.nameTaken(change.name))) throw new MachineConflictError(`a machine named ${change.name} exists already`);
    const updated = (await this.#d.machines.update(m.id, {
      state: MachineState.Approved,
      name: change.name || m.name,
      profile: change.profile || m.profile,
      labels: { ...m.labels, ...change.labels },
      approvedBy: actor,
    }))!;
    await this.#d.audit.record({ actor, action: 'machine.approve', target: updated.name, ok: true, detail: m.name !== updated.name ? `was ${m.name}` : '' });
    return updated;
  }

  async reject(key: string, actor: string): Promise<MachineRecord> {
    const m = await this.find(key);
    await this.#d.tokens.revokeMachineTokens(m.id, Date.now());
    const updated = (await this.#d.machines.update(m.id, { state: MachineState.Rejected }))!;
    await this.#d.audit.record({ actor, action: 'machine.reject', target: m.name, ok: true });
    return updated;
  }

  async remove(key: string, actor: string): Promise<MachineRecord> {
    const m = await this.find(key);
    await this.#d.tokens.revokeMachineTokens(m.id, Date.now());
    await this.#d.machines.remove(m.id);
    await this.#d.audit.record({ actor, action: 'machine.remove', target: m.name, ok: true });
    return m;
  }

  async reinstall(key: string, actor: string): Promise<MachineRecord> {
    const m = await this.find(key);
    if (m.state !== MachineState.Provisioned) throw new MachineConflictError(`machine ${m.name} is ${m.state}; only a provisioned machine can be reinstalled`);
    const updated = (await this.#d.machines.update(m.id, { state: MachineState.Approved, nodeId: null }))!;
    await this.#d.audit.record({ actor, action: 'machine.reinstall', target: m.name, ok: true });
    return updated;
  }

  /** The profile a machine boots now and why. */
  choice(m: MachineRecord): ProfileChoice | undefined {
    if (m.state === MachineState.Pending) return { profile: DISCOVERY_PROFILE, from: 'discovery (pending approval)' };
    return chooseProfile(m, this.config());
  }

  toProto(m: MachineRecord): Machine {
    const choice = m.state === MachineState.Provisioned || m.state === MachineState.Rejected ? undefined : this.choice(m);
    return {
      id: m.id,
      name: m.name,
      mac: m.mac ?? '',
      uuid: m.uuid ?? '',
      serial: m.serial ?? '',
      profile: m.profile,
      labels: m.labels,
      state: m.state,
      nodeId: m.nodeId ?? '',
      bootProfile: choice?.profile ?? '',
      bootProfileFrom: choice?.from ?? '',
      createdUnixMs: m.createdAt,
      lastBootUnixMs: m.lastBootAt ?? 0,
      lastBootAddress: m.lastBootAddress,
      reported: m.reported ?? undefined,
      approvedBy: m.approvedBy,
    };
  }

  /** Labels a machine enrolls with: its group's, then its own. */
  #labelsFor(m: MachineRecord): Labels {
    return { ...(this.choice(m)?.group?.labels ?? {}), ...m.labels };
  }

  /** A new single-use token bound to `m`; older unused ones stop working. */
  async #mintToken(m: MachineRecord): Promise<string> {
    const now = Date.now();
    const { id, secret } = newTokenSecret();
    await this.#d.tokens.revokeMachineTokens(m.id, now);
    const record: JoinTokenRecord = {
      id,
      secretHash: hashSecret(secret),
      description: `pxe ${m.name}`,
      labels: this.#labelsFor(m),
      createdAt: now,
      createdBy: 'pxe',
      expiresAt: now + (m.state === MachineState.Pending ? PENDING_TOKEN_TTL_MS : TOKEN_TTL_MS),
      maxUses: 1,
      used: 0,
      revokedAt: null,
      machineId: m.id,
    };
    await this.#d.tokens.insertJoin(record);
    await this.#d.audit.record({ actor: 'pxe', action: 'token.create', target: id, ok: true, detail: `bound to machine ${m.name}, 1 use, expires ${new Date(record.expiresAt).toISOString()}` });
    return formatJoinToken({ id, secret, caHash: this.#d.caHash });
  }

  #vars(m: MachineRecord, ctx: BootContext, token: string): Record<string, string> {
    const host = hostOnly(ctx.host);
    const { port, pin } = this.#d.install();
    const vars: Record<string, string> = {
      'machine.name': m.name,
      'machine.id': m.id,
      'machine.mac': m.mac ?? '',
      server: ctx.host,
      token,
      install_command: `curl -fsSL -k --pinnedpubkey '${pin}' https://${host}:${port}/install.sh | sh -s -- --token ${token}`,
    };
    for (const [k, v] of Object.entries(this.#labelsFor(m))) vars[`labels.${k}`] = v;
    return vars;
  }

  /** The machine a boot request is about; an unknown MAC becomes a pending machine (or is approved by a rule). */
  async #identify(q: BootQuery, ctx: BootContext): Promise<MachineRecord | undefined> {
    const mac = normalizeMac(q.mac);
    const uuid = usableUuid(q.uuid);
    const serial = usableSerial(q.serial);
    const known = await this.#d.machines.identify(mac, uuid, serial);
    if (known) {
      const booted = (await this.#d.machines.update(known.id, { lastBootAt: Date.now(), lastBootAddress: ctx.remoteAddress }))!;
      return await this.#learn(booted, { macs: [mac], uuid, serial }, 'iPXE');
    }
    if (!mac || (await this.#d.machines.list(MachineState.Pending)).length >= MAX_PENDING) return undefined;
    const now = Date.now();
    const m: MachineRecord = {
      id: newId('m'),
      name: `pending-${mac.replaceAll(':', '')}`,
      mac,
      uuid: uuid || null,
      serial: serial || null,
      profile: '',
      labels: {},
      state: MachineState.Pending,
      nodeId: null,
      createdAt: now,
      updatedAt: now,
      lastBootAt: now,
      lastBootAddress: ctx.remoteAddress,
      reported: null,
      approvedBy: '',
    };
    await this.#d.machines.insert(m);
    await this.#d.audit.record({ actor: 'pxe', action: 'machine.discover', target: m.name, ok: true, detail: `mac ${mac}, uuid ${uuid || '-'}, serial ${serial || '-'}, from ${ctx.remoteAddress}` });
    return await this.#applyRules(m, '');
  }

  /**
   * Records the identities `m` lacks from what it reported (at a network boot, or from its agent
   * when it enrolls). A MAC, UUID or serial already known is never replaced; one that another
   * machine has, or a placeholder many machines share, is not taken.
   */
  async #learn(m: MachineRecord, seen: { macs: string[]; uuid: string; serial: string }, source: string): Promise<MachineRecord> {
    const free = async (field: 'mac' | 'uuid' | 'serial', value: string) => value !== '' && !(await this.#d.machines.holder(field, value));
    const learned: { mac?: string; uuid?: string; serial?: string } = {};
    if (m.mac === null) {
      for (const mac of seen.macs.map(normalizeMac)) {
        if (!(await free('mac', mac))) continue;
        learned.mac = mac;
        break;
      }
    }
    const uuid = usableUuid(seen.uuid);
    if (m.uuid === null && (await free('uuid', uuid))) learned.uuid = uuid;
    const serial = usableSerial(seen.serial);
    if (m.serial === null && (await free('serial', serial))) learned.serial = serial;
    const fields = Object.entries(learned);
    if (fields.length === 0) return m;
    const detail = `${fields.map(([k, v]) => `${k} ${v}`).join(', ')} (from ${source})`;
    this.#d.log.info({ machine: m.name, ...learned, source }, 'machine identity learned');
    await this.#d.audit.record({ actor: 'pxe', action: 'machine.learn', target: m.name, ok: true, detail });
    return (await this.#d.machines.update(m.id, learned))!;
  }

  /** Approves a pending machine when a rule says so. */
  async #applyRules(m: MachineRecord, hostname: string): Promise<MachineRecord> {
    const approved = new Map<string, number>();
    for (const r of this.config().rules) approved.set(r.name, await this.#d.machines.approvedByCount(`rule:${r.name}`));
    const rule = approvingRule(this.config(), { mac: m.mac ?? '', uuid: m.uuid ?? '', serial: m.serial ?? '', hostname }, (r) => approved.get(r.name) ?? 0);
    if (!rule) return m;
    const updated = (await this.#d.machines.update(m.id, { state: MachineState.Approved, profile: rule.profile ?? '', labels: { ...m.labels, ...rule.labels }, approvedBy: `rule:${rule.name}` }))!;
    await this.#d.audit.record({ actor: `rule:${rule.name}`, action: 'machine.approve', target: m.name, ok: true, detail: `matched ${rule.match}` });
    return updated;
  }

  /** The iPXE script for a booting machine. */
  async bootScript(q: BootQuery, ctx: BootContext): Promise<string> {
    const m = await this.#identify(q, ctx);
    const say = (text: string) => `echo fleet: ${text.replace(/[^\x20-\x7e]/g, '?')}`;
    const answer = (lines: string[], outcome: string) => {
      this.#d.log.info({ mac: normalizeMac(q.mac) || q.mac.slice(0, 40), uuid: q.uuid.slice(0, 64), serial: q.serial.slice(0, 64), from: ctx.remoteAddress, machine: m?.name, answer: outcome }, 'pxe boot request');
      return `#!ipxe\n${lines.join('\n')}\n`;
    };
    if (!m) return answer([say(`unknown machine ${q.mac}; not recorded (no MAC, or too many pending machines)`), 'sleep 60', 'exit'], 'unknown');
    if (m.state === MachineState.Provisioned) return answer([say(`${m.name} is provisioned; booting from disk`), 'exit'], 'exit');
    if (m.state === MachineState.Rejected) return answer([say(`${m.name} was rejected`), 'exit'], 'rejected');
    const choice = this.choice(m);
    if (!choice) return answer([say(`no profile for ${m.name}: give it one (fleet machines add --profile) or add a default group`), 'sleep 30', 'exit'], 'no profile');
    const base = `http://${ctx.host}`;
    const absolute = (url: string) => (url.startsWith('/') ? `${base}${url}` : url);
    let profile: Profile;
    if (choice.profile === DISCOVERY_PROFILE) {
      if (!this.discoveryDir()) {
        return answer([say(`${m.name} waits for approval (fleet machines approve ${m.name}); no discovery image on the server`), 'sleep 60', `chain --replace ${base}/pxe/boot.ipxe`], 'waiting');
      }
      profile = { name: DISCOVERY_PROFILE, kernel: '/pxe/discovery/vmlinuz', initrd: '/pxe/discovery/initrd.img', args: this.config().discovery?.args ?? DISCOVERY_ARGS };
    } else {
      const found = this.config().profiles.find((p) => p.name === choice.profile);
      if (!found) return answer([say(`profile ${choice.profile} of ${m.name} is not in the PXE config`), 'sleep 30', 'exit'], 'missing profile');
      profile = found;
    }
    try {
      const token = await this.#mintToken(m);
      const vars = this.#vars(m, ctx, token);
      const args = [
        renderTemplate(profile.args, vars, `profile ${profile.name} args`),
        `fleet.server=https://${hostOnly(ctx.host)}:${this.#d.grpcPort()}`,
        `fleet.token=${token}`,
        `fleet.name=${m.name}`,
        `ds=nocloud-net;s=${base}/pxe/cloud-init/${m.id}/`,
      ].filter(Boolean);
      const lines = [say(`${m.name} (${m.mac ?? m.uuid ?? m.serial}) boots profile ${profile.name} (${choice.from})`), `kernel ${absolute(profile.kernel)} ${args.join(' ')}`];
      if (profile.initrd) lines.push(`initrd ${absolute(profile.initrd)}`);
      lines.push('boot');
      return answer(lines, `profile ${profile.name}`);
    } catch (err) {
      return answer([say(`cannot boot ${m.name}: ${(err as Error).message}`), 'sleep 30', 'exit'], 'error');
    }
  }

  /** cloud-init NoCloud files for a machine: meta-data, user-data (runs the installer) and vendor-data. */
  async cloudInit(machineId: string, file: string, ctx: BootContext): Promise<string | undefined> {
    const m = await this.#d.machines.get(machineId);
    if (!m || !['meta-data', 'user-data', 'vendor-data'].includes(file)) return undefined;
    if (file === 'meta-data') return `instance-id: fleet-${m.id}\nlocal-hostname: ${m.name}\n`;
    if (file === 'vendor-data') return '#cloud-config\n{}\n';
    if (m.state !== MachineState.Registered && m.state !== MachineState.Approved) {
      return `#cloud-config\n# fleet: machine ${m.name} is ${m.state}; nothing to install\n{}\n`;
    }
    const choice = this.choice(m);
    const profile = this.config().profiles.find((p) => p.name === choice?.profile);
    const vars = this.#vars(m, ctx, await this.#mintToken(m));
    this.#d.log.info({ machine: m.name, from: ctx.remoteAddress }, 'cloud-init user-data served');
    return renderTemplate(profile?.userData ?? DEFAULT_USER_DATA, vars, `profile ${profile?.name ?? '(default)'} userData`);
  }

  /**
   * Enrollment policy for a machine-bound token: the enrolling machine must look like the
   * machine (MAC, UUID or serial); a pending machine waits for approval (the agent retries). Returns
   * the node name and labels to use.
   */
  async admit(token: JoinTokenRecord, identity: MachineIdentity, remoteAddress: string): Promise<{ machine: MachineRecord; name: string; labels: Labels }> {
    const m = token.machineId ? await this.#d.machines.get(token.machineId) : undefined;
    if (!m) throw new JoinTokenRefusedError(`join token ${token.id} belongs to a machine that was removed`, 'TOKEN_MACHINE_GONE');
    const looksLike = (m.mac !== null && identity.macs.map((x) => x.toLowerCase()).includes(m.mac)) || (m.uuid !== null && identity.dmiUuid.toLowerCase() === m.uuid) || (m.serial !== null && identity.serial === m.serial);
    if (!looksLike) {
      throw new JoinTokenRefusedError(
        `join token ${token.id} is bound to machine ${m.name} (${m.mac ?? m.uuid ?? m.serial}); this machine (${identity.hostname || '?'}, ${identity.macs.join(' ') || 'no MACs'}) is another one`,
        'TOKEN_OTHER_MACHINE',
      );
    }
    if (m.state === MachineState.Rejected) throw new JoinTokenRefusedError(`machine ${m.name} was rejected`, 'MACHINE_REJECTED');
    if (m.state === MachineState.Provisioned) throw new JoinTokenRefusedError(`machine ${m.name} is provisioned already (fleet machines reinstall ${m.name} to install it again)`, 'MACHINE_PROVISIONED');
    let current = await this.#learn((await this.#d.machines.update(m.id, { reported: identity }))!, { macs: identity.macs, uuid: identity.dmiUuid, serial: identity.serial }, 'agent');
    this.#d.log.info({ machine: m.name, state: m.state, from: remoteAddress }, 'machine-bound enrollment');
    if (current.state === MachineState.Pending) current = await this.#applyRules(current, identity.hostname);
    if (current.state === MachineState.Pending) throw new MachinePendingError(current.name);
    return { machine: current, name: current.name, labels: this.#labelsFor(current) };
  }

  /** The machine enrolled as `nodeId`: from now on it boots from disk. */
  async provisioned(machineId: string, nodeId: string): Promise<void> {
    const m = await this.#d.machines.update(machineId, { state: MachineState.Provisioned, nodeId });
    await this.#d.tokens.revokeMachineTokens(machineId, Date.now());
    if (m) (await this.#d.audit.record({ actor: 'pxe', action: 'machine.provisioned', target: m.name, ok: true, detail: `node ${nodeId}` }));
  }
}
