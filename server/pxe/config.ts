// The PXE config (`fleet pxe set -f pxe.yaml`): boot profiles, groups that pick a profile for
// registered machines, and rules that approve unknown machines. Validated with zod; every problem
// is reported with its line and column.
import { z } from 'zod';
import { loadYaml } from '../../common/spec';
import { parseSelector } from '../../common/labels';
import type { SpecProblem } from '../../common/errors';

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const name = z.string().regex(NAME, 'use 1–63 characters: lower-case letters, digits, ".", "_" and "-"');
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** The profile unknown machines boot: the discovery image served by the server itself. */
export const DISCOVERY_PROFILE = 'discovery';

/**
 * The discovery image's kernel arguments unless the config's `discovery.args` says otherwise. The
 * kernel writes its messages to every console, but /dev/console (the image's own lines, a rescue
 * shell) is the last one: the serial port, which serial-only machines, IPMI serial-over-LAN and
 * `qemu -nographic` show.
 */
export const DISCOVERY_ARGS = 'console=tty0 console=ttyS0,115200n8';

const selector = z.string().refine((s) => {
  try {
    parseSelector(s);
    return true;
  } catch {
    return false;
  }
}, 'a label selector such as rack=a,role!=db');

/** A rule's match expression: comma-separated `field=glob` with field mac, uuid, serial or hostname. */
export const RULE_MATCH = /^(mac|uuid|serial|hostname)=[^,=\s]+(,(mac|uuid|serial|hostname)=[^,=\s]+)*$/;

export const profileSchema = z.strictObject({
  name,
  /** Kernel and initrd: URLs, or paths on the PXE port such as /pxe/discovery/vmlinuz. */
  kernel: z.string().regex(/^(https?:\/\/\S+|\/\S+)$/, 'a URL (http://…) or a path on the PXE port (/pxe/…)'),
  initrd: z.string().regex(/^(https?:\/\/\S+|\/\S+)$/, 'a URL (http://…) or a path on the PXE port (/pxe/…)').optional(),
  /** Kernel arguments; templated. fleet adds fleet.server, fleet.token and the cloud-init URL. */
  args: z.string().default(''),
  /** cloud-init user-data; templated. Default: run the fleet installer. */
  userData: z.string().optional(),
});

const labels = z.record(z.string(), z.string()).default({});

export const groupSchema = z.strictObject({
  name,
  profile: name,
  default: z.boolean().default(false),
  match: z
    .strictObject({
      macs: z.array(z.string().transform((m) => m.toLowerCase().replaceAll('-', ':')).pipe(z.string().regex(MAC, 'a MAC such as 52:54:00:12:34:56'))).optional(),
      uuid: z.string().min(1).transform((u) => u.toLowerCase()).optional(),
      serial: z.string().min(1).optional(),
      labels: selector.optional(),
    })
    .default({}),
  /** Labels given to machines of this group when they enroll. */
  labels,
});

export const ruleSchema = z.strictObject({
  name,
  match: z.string().regex(RULE_MATCH, 'comma-separated field=pattern with field mac, uuid, serial or hostname, e.g. mac=52:54:00:*'),
  /** Approve at most this many machines. */
  max: z.number().int().min(1),
  profile: name.optional(),
  labels,
});

export const pxeConfigSchema = z.strictObject({
  /** The built-in discovery profile: its kernel arguments (templated), default DISCOVERY_ARGS. */
  discovery: z.strictObject({ args: z.string() }).optional(),
  profiles: z.array(profileSchema).default([]),
  groups: z.array(groupSchema).default([]),
  rules: z.array(ruleSchema).default([]),
});

export type PxeConfig = z.output<typeof pxeConfigSchema>;
export type Profile = z.output<typeof profileSchema>;
export type Group = z.output<typeof groupSchema>;
export type Rule = z.output<typeof ruleSchema>;

/** Variables profile templates may use. */
const TEMPLATE_VARIABLE = /^(machine\.(name|id|mac)|server|token|install_command|labels\.[A-Za-z0-9_.\/-]+)$/;
const TEMPLATE_VARIABLES = 'machine.name, machine.id, machine.mac, server, token, install_command, labels.KEY';

type Locate = (path: readonly PropertyKey[], key?: boolean) => { line: number; col: number };

/** Checks across entries: unique names, profiles that exist, at most one default group. */
function crossChecks(data: unknown, locate: Locate): SpecProblem[] {
  const problems: SpecProblem[] = [];
  if (!data || typeof data !== 'object') return problems;
  const d = data as { discovery?: { args?: unknown }; profiles?: { name?: unknown }[]; groups?: { name?: unknown; profile?: unknown; default?: unknown }[]; rules?: { name?: unknown; profile?: unknown }[] };
  const profiles = new Set<string>([DISCOVERY_PROFILE]);
  const problem = (path: (string | number)[], message: string) => problems.push({ ...locate(path), field: path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replaceAll('.[', '['), message });
  for (const [list, items] of [
    ['profiles', d.profiles],
    ['groups', d.groups],
    ['rules', d.rules],
  ] as const) {
    const seen = new Map<string, number>();
    for (const [i, item] of (Array.isArray(items) ? items : []).entries()) {
      if (typeof item?.name !== 'string') continue;
      if (seen.has(item.name)) problem([list, i, 'name'], `duplicate name "${item.name}" (also ${list}[${seen.get(item.name)}])`);
      else seen.set(item.name, i);
      if (list === 'profiles') {
        if (item.name === DISCOVERY_PROFILE) problem([list, i, 'name'], `"${DISCOVERY_PROFILE}" is built in (the server's discovery image); choose another name`);
        profiles.add(item.name);
      }
    }
  }
  const defaults: number[] = [];
  for (const [i, g] of (Array.isArray(d.groups) ? d.groups : []).entries()) {
    if (typeof g?.profile === 'string' && !profiles.has(g.profile)) problem(['groups', i, 'profile'], `no profile named "${g.profile}"`);
    if (g?.default === true) defaults.push(i);
  }
  for (const i of defaults.slice(1)) problem(['groups', i, 'default'], `more than one default group (also groups[${defaults[0]}]); only one may be the default`);
  const templated: [(string | number)[], unknown][] = [[['discovery', 'args'], d.discovery?.args]];
  for (const [i, p] of (Array.isArray(d.profiles) ? d.profiles : []).entries()) {
    for (const field of ['args', 'userData'] as const) templated.push([['profiles', i, field], (p as Record<string, unknown>)[field]]);
  }
  for (const [path, text] of templated) {
    if (typeof text !== 'string') continue;
    // A variable sits on one line: a stray "{{" must not swallow the lines up to a later "}}"
    // into the message, which is one line per problem (found by bench/fuzz).
    for (const [, name] of text.matchAll(/\{\{\s*([^}\n]*?)\s*\}\}/g)) {
      if (!TEMPLATE_VARIABLE.test(name!)) problem(path, `unknown template variable {{ ${name} }} (use ${TEMPLATE_VARIABLES})`);
    }
  }
  for (const [i, r] of (Array.isArray(d.rules) ? d.rules : []).entries()) {
    if (typeof r?.profile === 'string' && !profiles.has(r.profile)) problem(['rules', i, 'profile'], `no profile named "${r.profile}"`);
  }
  return problems;
}

/**
 * Parses and validates a PXE config.
 * @throws SpecError listing every problem as FILE:LINE:COL: FIELD: MESSAGE.
 */
export function loadPxeConfig(text: string, fileName: string): PxeConfig {
  return loadYaml(text, fileName, pxeConfigSchema, { what: 'PXE config', expected: 'a mapping with profiles:, groups:, rules: and discovery:', semantic: crossChecks });
}
