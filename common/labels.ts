// Labels and kubectl-style label selectors: `role=web,env!=dev,zone in (a,b),!legacy`.
import { InvalidLabelError, InvalidSelectorError } from './errors';
import { quote } from './format';

export type Labels = Record<string, string>;

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Checks a label key: `name` or `prefix/name`, as in Kubernetes. Returns an error text or null. */
export function labelKeyProblem(key: string): string | null {
  const slash = key.indexOf('/');
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (slash !== -1 && !PREFIX.test(key.slice(0, slash))) return 'the prefix must be a DNS subdomain';
  if (!NAME.test(name)) return 'keys are 1-63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
  return null;
}

/** Checks a label value (may be empty). Returns an error text or null. */
export function labelValueProblem(value: string): string | null {
  if (value === '' || NAME.test(value)) return null;
  return 'values are at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit';
}

/** Throws InvalidLabelError unless every key and value is well formed. */
export function validateLabels(labels: Labels): void {
  for (const [key, value] of Object.entries(labels)) {
    const problem = labelKeyProblem(key) ?? labelValueProblem(value);
    if (problem) throw new InvalidLabelError(`${key}=${value}`, problem);
  }
}

/** Parses `k=v` assignments (from the command line) into a label map. */
export function parseLabelAssignments(items: string[]): Labels {
  const labels: Labels = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InvalidLabelError(item, 'expected key=value');
    labels[item.slice(0, eq)] = item.slice(eq + 1);
  }
  validateLabels(labels);
  return labels;
}

export type Requirement =
  | { op: 'exists' | 'not-exists'; key: string }
  | { op: 'in' | 'notin'; key: string; values: string[] };

/** A parsed selector: a list of requirements that must all hold. */
export class Selector {
  constructor(readonly requirements: readonly Requirement[]) {}

  /** True when the selector has no requirement and so matches everything. */
  get empty(): boolean {
    return this.requirements.length === 0;
  }

  /**
   * True when every label set this selector matches is also matched by `other` (this selector is
   * at least as narrow). Decided requirement by requirement, so it may say false for selectors
   * that only imply `other` together (e.g. "a=1,a!=2" vs "a notin (2)" is true, but cross-key
   * reasoning is not done).
   */
  implies(other: Selector): boolean {
    return other.requirements.every((r) => this.requirements.some((q) => requirementImplies(q, r)));
  }

  /** True when `labels` satisfy every requirement. */
  matches(labels: Labels): boolean {
    return this.requirements.every((r) => {
      const has = Object.hasOwn(labels, r.key);
      switch (r.op) {
        case 'exists':
          return has;
        case 'not-exists':
          return !has;
        case 'in':
          return has && r.values.includes(labels[r.key]!);
        case 'notin':
          return !has || !r.values.includes(labels[r.key]!);
      }
    });
  }
}

/** True when every label set satisfying `q` satisfies `r`. */
function requirementImplies(q: Requirement, r: Requirement): boolean {
  if (q.key !== r.key) return false;
  switch (r.op) {
    case 'exists':
      return q.op === 'exists' || q.op === 'in';
    case 'not-exists':
      return q.op === 'not-exists';
    case 'in':
      return q.op === 'in' && q.values.every((v) => r.values.includes(v));
    case 'notin':
      return q.op === 'not-exists' || (q.op === 'notin' && r.values.every((v) => q.values.includes(v))) || (q.op === 'in' && q.values.every((v) => !r.values.includes(v)));
  }
}

/** Splits on commas that are not inside parentheses. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts;
}

/**
 * Parses a kubectl-style selector.
 * @example parseSelector('role=web,env!=dev,zone in (a,b)').matches({ role: 'web', zone: 'a' }) === true
 * @throws InvalidSelectorError with what is wrong and where.
 */
export function parseSelector(text: string): Selector {
  const trimmed = text.trim();
  if (trimmed === '') return new Selector([]);
  const requirements: Requirement[] = [];
  for (const raw of splitTop(trimmed)) {
    const part = raw.trim();
    if (part === '') throw new InvalidSelectorError(text, 'empty requirement (stray comma?)');
    requirements.push(parseRequirement(text, part));
  }
  return new Selector(requirements);
}

function checkKey(text: string, key: string): string {
  const problem = labelKeyProblem(key);
  if (problem) throw new InvalidSelectorError(text, `bad key ${quote(key)}: ${problem}`);
  return key;
}

function checkValue(text: string, value: string): string {
  const problem = labelValueProblem(value);
  if (problem) throw new InvalidSelectorError(text, `bad value ${quote(value)}: ${problem}`);
  return value;
}

function parseRequirement(text: string, part: string): Requirement {
  const set = /^(\S+)\s+(in|notin)\s*\((.*)\)$/.exec(part);
  if (set) {
    const values = set[3]!.split(',').map((v) => checkValue(text, v.trim()));
    if (values.length === 0 || (values.length === 1 && values[0] === '')) {
      throw new InvalidSelectorError(text, `${quote(part)} needs at least one value`);
    }
    return { op: set[2] as 'in' | 'notin', key: checkKey(text, set[1]!), values };
  }
  const cmp = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part);
  if (cmp) {
    const key = checkKey(text, cmp[1]!);
    const value = checkValue(text, cmp[3]!);
    return { op: cmp[2] === '!=' ? 'notin' : 'in', key, values: [value] };
  }
  if (part.startsWith('!')) return { op: 'not-exists', key: checkKey(text, part.slice(1).trim()) };
  if (/^[^\s=!(),]+$/.test(part)) return { op: 'exists', key: checkKey(text, part) };
  throw new InvalidSelectorError(text, `cannot understand ${quote(part)} (use k=v, k!=v, k in (a,b), k notin (a,b), k or !k)`);
}
