// Which profile a machine boots: its own, else the most specific matching group (a MAC, UUID or
// serial match outranks any label selector; more selector requirements outrank fewer; ties go to
// the group name that sorts first), else the default group. And which rule approves an unknown
// machine. Pure functions over the PXE config.
import { parseSelector, type Labels } from '../../common/labels';
import type { Group, PxeConfig, Rule } from './config';

/** What a machine is known by when its profile is chosen. */
export interface MachineFacts {
  mac: string | null;
  uuid: string | null;
  serial: string | null;
  labels: Labels;
  /** An explicit profile set on the machine. */
  profile: string;
}

export interface ProfileChoice {
  profile: string;
  /** "machine", "group NAME" or "default group NAME". */
  from: string;
  group?: Group;
}

/** A group's specificity for the machine, or -1 when it does not match. */
export function groupScore(group: Group, m: MachineFacts): number {
  const match = group.match;
  let identity = 0;
  if (match.macs) {
    if (!m.mac || !match.macs.includes(m.mac)) return -1;
    identity++;
  }
  if (match.uuid) {
    if (m.uuid?.toLowerCase() !== match.uuid) return -1;
    identity++;
  }
  if (match.serial) {
    if (m.serial !== match.serial) return -1;
    identity++;
  }
  let requirements = 0;
  if (match.labels !== undefined) {
    const selector = parseSelector(match.labels);
    if (!selector.matches(m.labels)) return -1;
    requirements = selector.requirements.length;
  }
  if (identity === 0 && requirements === 0 && match.labels === undefined) return group.default ? 0 : -1;
  // Any identity match outranks any number of label requirements.
  return identity * 10_000 + requirements + 1;
}

/** The profile `m` boots, or undefined when nothing applies. */
export function chooseProfile(m: MachineFacts, config: PxeConfig): ProfileChoice | undefined {
  if (m.profile) return { profile: m.profile, from: 'machine' };
  const ranked = config.groups
    .map((group) => ({ group, score: groupScore(group, m) }))
    .filter((g) => g.score >= 0)
    .sort((a, b) => b.score - a.score || a.group.name.localeCompare(b.group.name));
  const best = ranked[0];
  if (!best) return undefined;
  return { profile: best.group.profile, from: best.score === 0 ? `default group ${best.group.name}` : `group ${best.group.name}`, group: best.group };
}

/** True when `value` matches a glob with `*` wildcards (case-insensitive). */
function glob(pattern: string, value: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i');
  return re.test(value);
}

/** True when every `field=pattern` of the rule's match holds for the machine. */
export function ruleMatches(rule: Rule, m: { mac: string; uuid: string; serial: string; hostname: string }): boolean {
  return rule.match.split(',').every((part) => {
    const [field, pattern] = part.split('=') as [keyof typeof m, string];
    return m[field] !== '' && glob(pattern, m[field]);
  });
}

/** The first rule (in config order) that matches and still has approvals left. */
export function approvingRule(config: PxeConfig, m: { mac: string; uuid: string; serial: string; hostname: string }, approvedSoFar: (rule: Rule) => number): Rule | undefined {
  return config.rules.find((rule) => ruleMatches(rule, m) && approvedSoFar(rule) < rule.max);
}
