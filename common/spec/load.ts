// Reads a spec file (YAML) into a validated Spec, or throws a SpecError that lists every problem with
// its line and column, so `fleet plan -f web.yaml` can say exactly what to fix in one go.
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { SpecError, type SpecProblem } from '../errors';
import { spec, type Spec } from './schema';

/** The largest spec file accepted, in bytes (1 MiB). */
export const MAX_SPEC_BYTES = 1024 * 1024;

/**
 * How much aliasing (`*name`) a spec may do, as yaml's `maxAliasCount`: a few reuses are fine, a
 * "billion laughs" expansion is refused.
 */
export const MAX_ALIAS_COUNT = 20;

const RESOURCE_TYPES = ['file', 'binary', 'package', 'service', 'exec'];

type Path = readonly PropertyKey[];
type Issue = z.core.$ZodIssue;

/**
 * Parses and validates a spec file.
 *
 * @param text the file's contents.
 * @param fileName used only in messages (`web.yaml:7:11: …`).
 * @returns the spec with defaults filled in.
 * @throws SpecError listing every problem found: YAML syntax, schema violations, duplicate resources
 *   or checks, service `watch` entries that name nothing in the spec, or a file over 1 MiB.
 * @example
 * const s = loadSpec(await readFile('web.yaml', 'utf8'), 'web.yaml');
 */
export function loadSpec(text: string, fileName: string): Spec {
  return loadYaml(text, fileName, spec, { what: 'spec', expected: 'a mapping such as "name: web" followed by resources: and checks:', semantic: semanticProblems });
}

/** How loadYaml names the document and what else it checks. */
export interface YamlDocumentKind {
  /** "spec", "PXE config": used in messages. */
  what: string;
  /** What the top level should look like, for the message when it is not a mapping. */
  expected: string;
  /** Problems the schema cannot see (duplicates, references), located by path. */
  semantic?: (data: unknown, locate: (path: Path, key?: boolean) => { line: number; col: number }) => SpecProblem[];
}

/**
 * Parses one YAML document and validates it with `schema`, reporting every problem with its
 * line and column (the same rules as loadSpec: 1 MiB, one document, aliases capped).
 * @throws SpecError listing every problem.
 */
export function loadYaml<S extends z.ZodType>(text: string, fileName: string, schema: S, kind: YamlDocumentKind): z.output<S> {
  if (text.length > MAX_SPEC_BYTES || Buffer.byteLength(text, 'utf8') > MAX_SPEC_BYTES) {
    const bytes = Buffer.byteLength(text, 'utf8');
    throw new SpecError(fileName, [{ line: 1, col: 1, field: '', message: `the ${kind.what} is ${bytes} bytes; the limit is ${MAX_SPEC_BYTES} bytes (1 MiB)` }]);
  }

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true, stringKeys: true });
  const at = (offset: number): { line: number; col: number } => lineCounter.linePos(offset);

  const syntax: SpecProblem[] = [...doc.errors, ...doc.warnings].map((e) => {
    const pos = e.linePos?.[0] ?? at(Math.max(0, e.pos[0]));
    // prettyErrors appends " at line L, column C:" and an excerpt; the location is already in front.
    const suffix = ` at line ${pos.line}, column ${pos.col}`;
    const cut = e.message.indexOf(suffix);
    let message = cut === -1 ? e.message : e.message.slice(0, cut);
    if (e.code === 'MULTIPLE_DOCS') message = `a ${kind.what} file holds one YAML document; remove the second "---" and what follows, or put it in its own file`;
    return { line: pos.line, col: pos.col, field: '', message };
  });
  if (syntax.length > 0) throw new SpecError(fileName, sortProblems(syntax));

  const root = doc.contents;
  if (!isMap(root)) {
    const pos = root?.range ? at(root.range[0]) : { line: 1, col: 1 };
    const what = root === null || (isScalar(root) && root.value === null) ? `the ${kind.what} is empty` : `the ${kind.what} is ${isSeq(root) ? 'a list' : 'a single value'}`;
    throw new SpecError(fileName, [{ ...pos, field: '', message: `${what}; expected ${kind.expected}` }]);
  }

  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    // toJS throws only for aliases: one whose anchor is not defined before it, or too many of them.
    // One pass in document order, as yaml resolves them (resolving each alias would be quadratic).
    const anchors = new Set<string>();
    let unresolved: Node | undefined;
    let first: Node | undefined;
    visit(doc, {
      Node: (_key, node) => {
        if (isAlias(node)) {
          first ??= node;
          if (!anchors.has(node.source)) {
            unresolved = node;
            return visit.BREAK;
          }
        } else if (node.anchor) {
          anchors.add(node.anchor);
        }
        return undefined;
      },
    });
    const culprit = unresolved ?? first;
    const pos = culprit?.range ? at(culprit.range[0]) : { line: 1, col: 1 };
    const message = unresolved
      ? 'this alias (*name) refers to no anchor (&name) defined before it'
      : `too many aliases (*name) expanded (limit ${MAX_ALIAS_COUNT}); write the values out instead`;
    throw new SpecError(fileName, [{ ...pos, field: '', message }], { cause: err });
  }

  const locate = (path: Path, key = false): { line: number; col: number } => {
    const node = findNode(doc, path, key);
    return node?.range ? at(node.range[0]) : { line: 1, col: 1 };
  };

  const problems: SpecProblem[] = [];
  const result = schema.safeParse(data, { error: friendlyMessage, reportInput: true });
  if (!result.success) {
    for (const { path, message, key } of flattenIssues(result.error.issues, [])) {
      problems.push({ ...locate(path, key), field: formatField(path), message });
    }
  }
  if (kind.semantic) problems.push(...kind.semantic(data, locate));
  if (!result.success || problems.length > 0) throw new SpecError(fileName, sortProblems(dedupe(problems)));
  return result.data as z.output<S>;
}

/** Zod issues as (path, message) pairs, with unknown keys split out and unions reduced to the branch meant. */
function flattenIssues(issues: readonly Issue[], prefix: Path): { path: Path; message: string; key: boolean }[] {
  const out: { path: Path; message: string; key: boolean }[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push({ path: [...path, k], message: `unknown field "${k}"`, key: true });
      continue;
    }
    if (issue.code === 'invalid_union' && issue.discriminator === undefined && issue.errors.length > 0) {
      // A union such as `string | string[]`: if the value had the right shape for one branch, that
      // branch's complaints are the useful ones; otherwise say which shapes are allowed.
      const meant = issue.errors.filter((branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0));
      if (meant.length === 1) {
        out.push(...flattenIssues(meant[0]!, path));
        continue;
      }
      const expected = issue.errors.flatMap((branch) => branch.filter((i) => i.code === 'invalid_type' && i.path.length === 0).map((i) => (i as z.core.$ZodIssueInvalidType).expected));
      if (expected.length === issue.errors.length) {
        out.push({ path, message: `expected ${joinOr(expected.map(describeType))}, got ${describeValue(issue.input)}`, key: false });
        continue;
      }
    }
    // A pattern's message says what is wanted ("host:port"); show what was given too.
    const got = issue.code === 'invalid_format' && issue.format === 'regex' && typeof issue.input === 'string' ? ` (got ${describeValue(issue.input)})` : '';
    out.push({ path, message: issue.message + got, key: false });
  }
  return out;
}

/**
 * Friendlier wording for zod's built-in messages. Messages the schema sets itself (refinements,
 * regex hints) take precedence over this map, so they are kept as written.
 */
const friendlyMessage: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'required';
      const hint = issue.expected === 'string' && (typeof issue.input === 'number' || typeof issue.input === 'boolean') ? ' (put it in quotes)' : '';
      return `expected ${describeType(issue.expected)}, got ${describeValue(issue.input)}${hint}`;
    }
    case 'invalid_union': {
      if (issue.discriminator === undefined) return undefined;
      const value = isRecord(issue.input) ? issue.input[issue.discriminator] : undefined;
      if (value === undefined) return 'required';
      const options = ('options' in issue && Array.isArray(issue.options) ? issue.options : []).map(String);
      const what = issue.discriminator === 'type' && options.join() === RESOURCE_TYPES.join() ? 'resource type' : issue.discriminator;
      return `unknown ${what} ${JSON.stringify(value)} (expected ${joinOr(options)})`;
    }
    case 'invalid_value':
      return `expected ${joinOr(issue.values.map((v) => JSON.stringify(v)))}, got ${describeValue(issue.input)}`;
    case 'too_small':
      if (issue.origin === 'string') return Number(issue.minimum) <= 1 ? 'must not be empty' : `must be at least ${issue.minimum} characters`;
      if (issue.origin === 'array') return Number(issue.minimum) <= 1 ? 'must not be empty' : `needs at least ${issue.minimum} entries`;
      return issue.inclusive === false ? `must be more than ${issue.minimum}` : `must be at least ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      if (issue.origin === 'array') return `allows at most ${issue.maximum} entries`;
      return issue.inclusive === false ? `must be less than ${issue.maximum}` : `must be at most ${issue.maximum}`;
    case 'invalid_format':
      return issue.format === 'regex' && issue.pattern ? `must match ${issue.pattern}` : undefined;
    default:
      return undefined;
  }
};

/**
 * Checks the schema cannot express: unique resources and checks, and service `watch` entries that
 * name a file or binary in this spec. Works on the raw data, so these are reported together with
 * schema problems; entries too malformed to judge are skipped (the schema reports them).
 */
function semanticProblems(data: unknown, locate: (path: Path, key?: boolean) => { line: number; col: number }): SpecProblem[] {
  const problems: SpecProblem[] = [];
  if (!isRecord(data)) return problems;
  const resources = Array.isArray(data.resources) ? data.resources : [];
  const checks = Array.isArray(data.checks) ? data.checks : [];

  const seen = new Map<string, Path>();
  const watchable = new Set<string>();
  resources.forEach((r: unknown, i) => {
    if (!isRecord(r) || typeof r.type !== 'string' || !RESOURCE_TYPES.includes(r.type)) return;
    const idField = r.type === 'file' ? 'path' : 'name';
    const value = r[idField];
    if (typeof value !== 'string') return;
    if (r.type === 'file' || r.type === 'binary') watchable.add(value);
    const id = `${r.type}:${value}`;
    const path = ['resources', i, idField];
    const first = seen.get(id);
    if (first) problems.push({ ...locate(path), field: formatField(path), message: `duplicate resource ${id} (also at line ${locate(first).line})` });
    else seen.set(id, path);
  });

  resources.forEach((r: unknown, i) => {
    if (!isRecord(r) || r.type !== 'service' || !Array.isArray(r.watch)) return;
    r.watch.forEach((w: unknown, j) => {
      if (typeof w !== 'string' || watchable.has(w)) return;
      const path = ['resources', i, 'watch', j];
      problems.push({ ...locate(path), field: formatField(path), message: `${JSON.stringify(w)} is neither the path of a file nor the name of a binary in this spec` });
    });
  });

  const names = new Map<string, Path>();
  checks.forEach((c: unknown, i) => {
    if (!isRecord(c) || typeof c.name !== 'string') return;
    const path = ['checks', i, 'name'];
    const first = names.get(c.name);
    if (first) problems.push({ ...locate(path), field: formatField(path), message: `duplicate check "${c.name}" (also at line ${locate(first).line})` });
    else names.set(c.name, path);
  });
  return problems;
}

/**
 * The YAML node for a path: the value there, or its key when `key` is set; if the path goes further
 * than the document (a missing field), the deepest node that exists, i.e. the mapping that lacks it.
 */
function findNode(doc: Document.Parsed, path: Path, key: boolean): Node | undefined {
  let node: unknown = doc.contents;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i];
    if (isAlias(node)) node = node.resolve(doc) ?? node;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) break;
      const last = i === path.length - 1;
      // `field:` with nothing after it: the empty value sits past the colon; the key is clearer.
      const empty = pair.value === null || (isScalar(pair.value) && pair.value.value === null && pair.value.range?.[0] === pair.value.range?.[1]);
      if ((last && key) || empty) return pair.key as Node;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && node.items[seg] !== undefined) {
      node = node.items[seg];
    } else {
      break;
    }
  }
  return node as Node | undefined;
}

/** `['resources', 1, 'path']` → `resources[1].path`. */
function formatField(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(String(seg))) out += out === '' ? String(seg) : `.${String(seg)}`;
    else out += `[${JSON.stringify(String(seg))}]`;
  }
  return out;
}

function describeType(expected: string): string {
  const names: Record<string, string> = {
    string: 'a string',
    number: 'a number',
    int: 'a whole number',
    boolean: 'true or false',
    object: 'a mapping',
    array: 'a list',
  };
  return names[expected] ?? expected;
}

function describeValue(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number') return `the number ${value}`;
  return String(value);
}

function joinOr(items: string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sortProblems(problems: SpecProblem[]): SpecProblem[] {
  return [...problems].sort((a, b) => a.line - b.line || a.col - b.col);
}

function dedupe(problems: SpecProblem[]): SpecProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.line}:${p.col}:${p.field}:${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
