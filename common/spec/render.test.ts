import { describe, expect, it } from 'vitest';
import { TemplateError } from '../errors';
import { loadSpec } from './load';
import { renderForNode } from './render';
import { desiredState, isRemoval, removalOf } from './schema';

const node = { id: 'n-7f3a', name: 'web-1', labels: { role: 'web', port: '8080', 'example.com/zone': 'a' }, facts: { os: 'debian', ip: '10.0.0.7' } };

const spec = loadSpec(
  `name: web
resources:
  - type: file
    path: /etc/app.conf
    template: true
    content: |
      name={{ node.name }}
      id={{node.id}}
      listen={{ facts.ip }}:{{ labels.port }}
      zone={{ labels.example.com/zone }}
  - type: file
    path: /etc/motd
    content: "not a template: {{ node.name }}"
  - type: exec
    name: register
    command: register --node {{ node.id }}
    unless: test -f /var/lib/{{ node.name }}.done
  - type: service
    name: app
    command: [/usr/local/bin/app, --port, "{{ labels.port }}"]
checks:
  - name: up
    http: "http://{{ facts.ip }}:{{ labels.port }}/health"
  - name: port
    tcp: "localhost:{{ labels.port }}"
  - name: os
    cmd: "test {{ facts.os }} = debian"
`,
  'web.yaml',
);

function templateError(f: () => unknown): TemplateError {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(TemplateError);
    expect((err as TemplateError).code).toBe('TEMPLATE');
    return err as TemplateError;
  }
  throw new Error('no error');
}

describe('renderForNode', () => {
  it('fills node, label and fact values into templates', () => {
    const state = renderForNode(spec, 4, node);
    expect(state.spec).toBe('web');
    expect(state.revision).toBe(4);
    const [conf, motd, exec, service] = state.resources;
    expect(conf).toMatchObject({ content: 'name=web-1\nid=n-7f3a\nlisten=10.0.0.7:8080\nzone=a\n', template: false });
    expect(motd).toMatchObject({ content: 'not a template: {{ node.name }}', template: false });
    expect(exec).toMatchObject({ command: 'register --node n-7f3a', unless: 'test -f /var/lib/web-1.done' });
    expect(service).toMatchObject({ command: ['/usr/local/bin/app', '--port', '8080'] });
    expect(state.checks.map((c) => c.http ?? c.tcp ?? c.cmd)).toEqual(['http://10.0.0.7:8080/health', 'localhost:8080', 'test debian = debian']);
    expect(desiredState.parse(state)).toEqual(state);
    expect(spec.resources[0]).toMatchObject({ template: true }); // the spec itself is untouched
  });

  it('names the resource and the label a node lacks', () => {
    const err = templateError(() => renderForNode(spec, 1, { ...node, labels: { role: 'web' } }));
    expect(err.message).toBe('file:/etc/app.conf: no label "port" on node web-1');
    expect(err.variable).toBe('labels.port');
    expect(err.subject).toBe('file:/etc/app.conf');
  });

  it('names the check and the fact a node lacks', () => {
    const s = loadSpec('name: web\nchecks:\n  - name: os\n    cmd: "test {{ facts.arch }} = x86_64"\n', 'web.yaml');
    expect(templateError(() => renderForNode(s, 1, node)).message).toBe('check os: no fact "arch" on node web-1');
  });

  it('refuses unknown variables, inherited properties and unclosed braces', () => {
    const withCmd = (cmd: string) => loadSpec(`name: web\nresources:\n  - type: exec\n    name: x\n    command: ${JSON.stringify(cmd)}\n`, 'web.yaml');
    expect(templateError(() => renderForNode(withCmd('echo {{ node.ip }}'), 1, node)).message).toBe(
      'exec:x: unknown template variable "node.ip" (use node.name, node.id, labels.KEY or facts.KEY)',
    );
    expect(templateError(() => renderForNode(withCmd('echo {{ env.HOME }}'), 1, node)).variable).toBe('env.HOME');
    expect(templateError(() => renderForNode(withCmd('echo {{}}'), 1, node)).message).toMatch(/unknown template variable ""/);
    expect(templateError(() => renderForNode(withCmd('echo {{ labels.constructor }}'), 1, node)).message).toBe('exec:x: no label "constructor" on node web-1');
    expect(templateError(() => renderForNode(withCmd('echo {{ node.name }'), 1, node)).message).toMatch(/^exec:x: unclosed "\{\{"/);
  });

  it('does not expand templates inside filled-in values', () => {
    const s = loadSpec('name: web\nchecks:\n  - name: x\n    cmd: "echo {{ labels.note }}"\n', 'web.yaml');
    const state = renderForNode(s, 1, { ...node, labels: { note: '{{ node.id }}' } });
    expect(state.checks[0]!.cmd).toBe('echo {{ node.id }}');
  });

  it('refuses a filled-in value that makes a field invalid', () => {
    const s = loadSpec('name: web\nchecks:\n  - name: up\n    http: "http://{{ labels.host }}/"\n', 'web.yaml');
    const err = templateError(() => renderForNode(s, 1, { ...node, labels: { host: 'bad host' } }));
    expect(err.message).toBe('check up: invalid for node web-1 once its values are filled in: http: an http:// or https:// URL');
  });
});

describe('the removal of a spec', () => {
  it('is revision 0 naming the spec and nothing else, and is a valid desired state', () => {
    const removal = removalOf('web');
    expect(removal).toEqual({ spec: 'web', revision: 0, resources: [], checks: [] });
    expect(desiredState.parse(removal)).toEqual(removal);
    expect(isRemoval(removal)).toBe(true);
    expect(isRemoval(renderForNode(spec, 1, node))).toBe(false);
  });

  it('cannot list resources or checks, and a spec is never rendered as revision 0', () => {
    const withFile = { ...removalOf('web'), resources: [{ type: 'file', path: '/etc/x', content: 'x' }] };
    expect(desiredState.safeParse(withFile).error?.issues.map((i) => i.message)).toEqual(['revision 0 removes the spec from the node, so it lists no resources and no checks']);
    // A nameless removal is refused as before: that was the "malformed desired state" of issue 12.
    expect(desiredState.safeParse({ ...removalOf('web'), spec: '' }).success).toBe(false);
    expect(() => renderForNode(spec, 0, node)).toThrow(RangeError);
  });
});
