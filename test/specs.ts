// Desired-state specs shared by integration tests: a templated /etc/motd, and how a node's copy
// must look once applied.
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { CliResult, Fleet } from './harness';

/** Applies the spec `motd` (/etc/motd saying "welcome to NODE", mode 0644) to the nodes `selector` picks. */
export async function applyMotd(fleet: Fleet, selector: string): Promise<CliResult> {
  const dir = join(fleet.dir, 'specs');
  mkdirSync(dir, { recursive: true });
  const spec = join(dir, 'motd.yaml');
  writeFileSync(spec, `name: motd\nselector: ${selector}\nresources:\n  - type: file\n    path: /etc/motd\n    template: true\n    content: |\n      welcome to {{ node.name }}\n    mode: "0644"\n`);
  return await fleet.cli(['apply', '-f', spec]);
}

/** Asserts that `node`'s /etc/motd, under its agent root, is as the spec `motd` writes it. */
export function expectMotd(root: string, node: string): void {
  const file = join(root, 'etc/motd');
  expect(readFileSync(file, 'utf8')).toBe(`welcome to ${node}\n`);
  expect(statSync(file).mode & 0o777).toBe(0o644);
}
