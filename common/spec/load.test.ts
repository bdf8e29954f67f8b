import { describe, expect, it } from 'vitest';
import { SpecError, type SpecProblem } from '../errors';
import { loadSpec, MAX_SPEC_BYTES } from './load';

/** The problems loadSpec reports for `text`, or fails the test if it accepts it. */
function problems(text: string): SpecProblem[] {
  try {
    loadSpec(text, 'web.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(SpecError);
    expect((err as SpecError).code).toBe('INVALID_SPEC');
    return (err as SpecError).problems;
  }
  throw new Error('loadSpec accepted the spec');
}

function message(text: string): string {
  try {
    loadSpec(text, 'web.yaml');
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('loadSpec accepted the spec');
}

const lines = (...l: string[]): string => `${l.join('\n')}\n`;

describe('loadSpec', () => {
  it('loads a good spec and fills in defaults', () => {
    const s = loadSpec(
      lines(
        '# the web tier',
        'name: web',
        'selector: role=web',
        'resources:',
        '  - type: file',
        '    path: /etc/app.conf',
        '    content: |',
        '      port={{ labels.port }}',
        '    template: true',
        '  - type: service',
        '    name: app',
        '    command: [/usr/local/bin/app, --config, /etc/app.conf]',
        '    watch: [/etc/app.conf]',
        'checks:',
        '  - name: up',
        '    http: http://localhost:8080/health',
      ),
      'web.yaml',
    );
    expect(s.resources[0]).toEqual({ type: 'file', path: '/etc/app.conf', state: 'present', content: 'port={{ labels.port }}\n', template: true, mode: '0644' });
    expect(s.resources[1]).toMatchObject({ state: 'running', enabled: true, watch: ['/etc/app.conf'] });
    expect(s.checks[0]).toMatchObject({ interval: '10s', timeout: '5s' });
    expect(s.rollout).toEqual({ batch: 1, maxErrors: 0, healthGate: '0s', autoRollback: false });
  });

  it('reports YAML syntax errors with line and column', () => {
    expect(message(lines('name: web', 'resources:', '  - type: file', '    path: [/etc/a', '  - type: exec'))).toMatch(/^web\.yaml:5:3: /);
    expect(problems(lines('name: web', 'selector: role=web: x', 'resources: []'))).toEqual([
      // The location is given once, in front: yaml's own " at line 2, column 11" and excerpt are cut.
      { line: 2, col: 11, field: '', message: 'Nested mappings are not allowed in compact mappings' },
    ]);
  });

  it('refuses several documents, a root that is not a mapping, and duplicate keys', () => {
    expect(message(lines('name: a', '---', 'name: b'))).toBe('web.yaml:2:1: a spec file holds one YAML document; remove the second "---" and what follows, or put it in its own file');
    expect(message(lines('- name: a'))).toMatch(/^web\.yaml:1:1: the spec is a list; expected a mapping/);
    expect(message('# only a comment\n')).toMatch(/^web\.yaml:1:1: the spec is empty/);
    expect(problems(lines('name: a', 'name: b'))[0]).toMatchObject({ line: 2, col: 1 });
  });

  it('refuses an alias bomb and an alias without an anchor', () => {
    const bomb = lines(
      'name: web',
      'a: &a [x, x, x, x, x, x, x, x, x, x]',
      'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]',
      'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]',
      'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]',
    );
    expect(message(bomb)).toMatch(/^web\.yaml:3:8: too many aliases/);
    expect(message(lines('name: web', 'resources: *nothing'))).toMatch(/^web\.yaml:2:12: this alias \(\*name\) refers to no anchor/);
  });

  it('allows a few aliases for reuse', () => {
    const s = loadSpec(lines('name: web', 'resources:', '  - &svc {type: service, name: a, command: run}', 'checks:', '  - {name: a, cmd: &probe "true"}', '  - {name: b, cmd: *probe}'), 'web.yaml');
    expect(s.checks.map((c) => c.cmd)).toEqual(['true', 'true']);
  });

  it('refuses a file over 1 MiB', () => {
    const big = `name: web\n# ${'x'.repeat(MAX_SPEC_BYTES)}\n`;
    expect(message(big)).toMatch(/^web\.yaml:1:1: the spec is \d+ bytes; the limit is 1048576 bytes \(1 MiB\)$/);
  });

  it('points at a path that escapes the root', () => {
    const text = lines(
      'name: web',
      'resources:',
      '  - type: file',
      '    path: /etc/ok',
      '    content: ok',
      '  - type: file',
      '    path: /etc/../../root/.ssh/authorized_keys',
      '    content: key',
    );
    expect(message(text)).toBe('web.yaml:7:11: resources[1].path: must not contain "." or ".." segments (paths may not escape the root)');
  });

  it('names an unknown resource type and lists the known ones', () => {
    expect(message(lines('name: web', 'resources:', '  - type: nope', '    name: x'))).toBe(
      'web.yaml:3:11: resources[0].type: unknown resource type "nope" (expected file, binary, package, service or exec)',
    );
    expect(message(lines('name: web', 'resources:', '  - name: x'))).toBe('web.yaml:3:5: resources[0].type: required');
  });

  it('points at an unknown field by its key', () => {
    expect(message(lines('name: web', 'resources:', '  - type: package', '    name: curl', '    versoin: "8.5"'))).toBe('web.yaml:5:5: resources[0].versoin: unknown field "versoin"');
    expect(message(lines('name: web', 'owner: ops'))).toBe('web.yaml:2:1: owner: unknown field "owner"');
  });

  it('says which type was expected, and suggests quotes for a number meant as a string', () => {
    expect(message(lines('name: web', 'resources:', '  - type: file', '    path: /etc/a', '    content: x', '    mode: 0644'))).toBe(
      'web.yaml:6:11: resources[0].mode: expected a string, got the number 644 (put it in quotes)',
    );
    expect(message(lines('name: web', 'resources: {type: file}'))).toBe('web.yaml:2:12: resources: expected a list, got a mapping');
    expect(message(lines('name: web', 'resources:', '  - type: service', '    name: app', '    command: 5'))).toBe(
      'web.yaml:5:14: resources[0].command: expected a string or a list, got the number 5',
    );
    expect(message(lines('name: web', 'checks:', '  - name: up', '    cmd: "true"', '    interval:'))).toBe('web.yaml:5:5: checks[0].interval: expected a string, got an empty value');
  });

  it('shows the value that does not match a pattern', () => {
    expect(message(lines('name: web', 'checks:', '  - name: db', '    tcp: db.internal'))).toBe('web.yaml:4:10: checks[0].tcp: host:port (got "db.internal")');
  });

  it('points a missing field at the mapping that lacks it', () => {
    expect(message(lines('# a spec', 'selector: role=web'))).toBe('web.yaml:2:1: name: required');
    expect(message(lines('name: web', 'resources:', '  - type: exec', '    name: migrate', '  - type: binary', '    name: hello', '    version: "1.0"', '    url: https://example.com/hello'))).toBe(
      [
        'web.yaml:3:5: resources[0].command: required',
        'web.yaml:5:5: resources[1].sha256: required',
      ].join('\n'),
    );
  });

  it('reports a duplicate resource on the second one, and duplicate checks', () => {
    const text = lines(
      'name: web',
      'resources:',
      '  - type: file',
      '    path: /etc/a',
      '    content: one',
      '  - type: file',
      '    path: /etc/a',
      '    content: two',
      'checks:',
      '  - {name: up, cmd: "true"}',
      '  - {name: up, tcp: "localhost:80"}',
    );
    expect(message(text)).toBe(
      ['web.yaml:7:11: resources[1].path: duplicate resource file:/etc/a (also at line 4)', 'web.yaml:11:12: checks[1].name: duplicate check "up" (also at line 10)'].join('\n'),
    );
  });

  it('refuses a service watch entry that names nothing in the spec', () => {
    const text = lines(
      'name: web',
      'resources:',
      '  - {type: binary, name: app, version: "2.0", url: "https://example.com/app", sha256: "' + '0'.repeat(64) + '"}',
      '  - {type: file, path: /etc/app.conf, content: x}',
      '  - type: service',
      '    name: app',
      '    command: /usr/local/bin/app',
      '    watch: [app, /etc/app.conf, /etc/app.cnf]',
    );
    expect(problems(text)).toEqual([
      { line: 8, col: 33, field: 'resources[2].watch[2]', message: '"/etc/app.cnf" is neither the path of a file nor the name of a binary in this spec' },
    ]);
  });

  it('reports every problem at once, in file order', () => {
    const text = lines(
      'name: Web Tier',
      'resources:',
      '  - type: file',
      '    path: etc/motd',
      '    content: hi',
      '    colour: blue',
      '  - type: file',
      '    path: etc/motd',
      '    content: again',
      'checks:',
      '  - name: up',
      'rollout:',
      '    batch: 0',
    );
    const err = (() => {
      try {
        loadSpec(text, 'web.yaml');
      } catch (e) {
        return e as SpecError;
      }
      throw new Error('accepted');
    })();
    expect(err.problems.map((p) => `${p.line}:${p.col} ${p.field}`)).toEqual([
      '1:7 name',
      '4:11 resources[0].path',
      '6:5 resources[0].colour',
      '8:11 resources[1].path',
      '8:11 resources[1].path',
      '11:5 checks[0].cmd',
      '13:12 rollout.batch',
    ]);
    expect(err.message.split('\n')).toHaveLength(7);
    expect(err.message).toContain('web.yaml:8:11: resources[1].path: duplicate resource file:etc/motd (also at line 4)');
    expect(err.message).toContain('web.yaml:13:12: rollout.batch: must be at least 1');
  });
});
