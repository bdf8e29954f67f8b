import { describe, expect, it } from 'vitest';
import { specDigest } from './diff';
import { loadSpec } from './load';

const digest = (yaml: string): string => specDigest(loadSpec(yaml, 'web.yaml'));

const a = `# web tier
name: web
selector: role=web
resources:
  - type: file
    path: /etc/app.conf
    content: "port=8080\\n"
checks:
  - name: up
    cmd: "true"
`;

// The same spec: flow style, other key order, other quoting, comments gone, a default written out.
const b = `checks: [{cmd: 'true', name: up}]
resources: [{content: "port=8080\\n", path: /etc/app.conf, type: file, mode: "0644"}]
selector: "role=web"
name: web
rollout: {batch: 1}
`;

describe('specDigest', () => {
  it('is the same for the same spec however the YAML is written', () => {
    expect(digest(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(digest(b)).toBe(digest(a));
  });

  it('changes when the content changes', () => {
    expect(digest(a.replace('port=8080', 'port=8081'))).not.toBe(digest(a));
    expect(digest(a.replace('role=web', 'role=api'))).not.toBe(digest(a));
  });

  it('changes when resources are reordered (they are applied in order)', () => {
    const two = (first: string, second: string) =>
      `name: web\nresources:\n  - {type: package, name: ${first}}\n  - {type: package, name: ${second}}\n`;
    expect(digest(two('curl', 'jq'))).not.toBe(digest(two('jq', 'curl')));
  });
});
