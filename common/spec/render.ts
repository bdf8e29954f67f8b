// Turns a spec into one node's desired state: fills `{{ node.name }}`, `{{ node.id }}`,
// `{{ labels.KEY }}` and `{{ facts.KEY }}` into the fields that may hold them. The server renders per
// node; the agent receives only the result.
import { TemplateError } from '../errors';
import { desiredState, resourceId, type Check, type DesiredState, type Resource, type Spec } from './schema';

/** What a template may refer to about the node it is rendered for. */
export interface RenderNode {
  id: string;
  name: string;
  labels: Record<string, string>;
  facts: Record<string, string>;
}

const VARIABLES = 'use node.name, node.id, labels.KEY or facts.KEY';
const VARIABLE_RE = /^(?:node\.(name|id)|(labels|facts)\.([^\s{}]+))$/;

/**
 * Renders a spec for one node.
 *
 * Templates are filled into file `content` when the file has `template: true` (the output then has
 * `template: false`), and always into check `cmd`/`http`/`tcp`, exec `command`/`unless` and service
 * `command`. Whitespace inside the braces is optional: `{{labels.port}}` and `{{ labels.port }}`
 * are the same. There is no escape for a literal `{{`.
 *
 * @example
 * renderForNode(spec, 3, { id: 'n-1', name: 'web-1', labels: { port: '8080' }, facts: {} })
 * // check cmd "curl -f localhost:{{ labels.port }}" → "curl -f localhost:8080"
 * @throws TemplateError for an unknown variable, a label or fact the node lacks, an unclosed `{{`,
 *   or a filled-in value that makes a field invalid (say a label with a space inside a URL).
 */
export function renderForNode(spec: Spec, revision: number, node: RenderNode): DesiredState {
  // Revision 0 is no spec at all: see removalOf.
  if (!Number.isInteger(revision) || revision < 1) throw new RangeError(`revision must be a whole number ≥ 1, not ${revision}`);

  const resources = spec.resources.map((r) => renderResource(r, node));
  const checks = spec.checks.map((c): Check => {
    const fill = (text: string | undefined): string | undefined => (text === undefined ? undefined : fillTemplate(text, node, `check ${c.name}`));
    return withoutUndefined({ ...c, cmd: fill(c.cmd), http: fill(c.http), tcp: fill(c.tcp) });
  });

  const result = desiredState.safeParse({ spec: spec.name, revision, resources, checks });
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const [list, index, ...rest] = issue.path;
    const subject = list === 'resources' && typeof index === 'number' ? resourceId(resources[index]!) : list === 'checks' && typeof index === 'number' ? `check ${checks[index]!.name}` : `spec ${spec.name}`;
    const field = rest.length > 0 ? `${rest.join('.')}: ` : '';
    throw new TemplateError(subject, `invalid for node ${node.name} once its values are filled in: ${field}${issue.message}`, undefined, { cause: result.error });
  }
  return result.data;
}

function renderResource(r: Resource, node: RenderNode): Resource {
  const subject = resourceId(r);
  const fill = (text: string): string => fillTemplate(text, node, subject);
  switch (r.type) {
    case 'file':
      return r.template && r.content !== undefined ? { ...r, content: fill(r.content), template: false } : { ...r, template: false };
    case 'exec':
      return withoutUndefined({ ...r, command: fill(r.command), unless: r.unless === undefined ? undefined : fill(r.unless) });
    case 'service':
      return withoutUndefined({ ...r, command: r.command === undefined ? undefined : typeof r.command === 'string' ? fill(r.command) : r.command.map(fill) });
    default:
      return r;
  }
}

/**
 * Replaces every `{{ VARIABLE }}` in `text`. `subject` names what is being rendered, for errors.
 * Filled-in values are not scanned again, so a label cannot inject a template.
 */
function fillTemplate(text: string, node: RenderNode, subject: string): string {
  let out = '';
  let from = 0;
  for (;;) {
    const open = text.indexOf('{{', from);
    if (open === -1) return out + text.slice(from);
    const close = text.indexOf('}}', open + 2);
    if (close === -1) throw new TemplateError(subject, `unclosed "{{" (a template looks like {{ labels.KEY }})`);
    const variable = text.slice(open + 2, close).trim();
    out += text.slice(from, open) + lookup(variable, node, subject);
    from = close + 2;
  }
}

function lookup(variable: string, node: RenderNode, subject: string): string {
  const m = VARIABLE_RE.exec(variable);
  if (!m) throw new TemplateError(subject, `unknown template variable "${variable}" (${VARIABLES})`, variable);
  if (m[1] === 'name') return node.name;
  if (m[1] === 'id') return node.id;
  const map = m[2] === 'labels' ? node.labels : node.facts;
  const key = m[3]!;
  // Object.hasOwn, so that labels.constructor or labels.__proto__ are just missing labels.
  if (!Object.hasOwn(map, key)) throw new TemplateError(subject, `no ${m[2] === 'labels' ? 'label' : 'fact'} "${key}" on node ${node.name}`, variable);
  return map[key]!;
}

/** Drops keys whose value is undefined, so optional fields stay absent rather than present-but-undefined. */
function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
