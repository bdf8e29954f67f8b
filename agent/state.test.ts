import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentState } from './state';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function enrolled(): AgentState {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-state-'));
  dirs.push(dir);
  const state = new AgentState(dir);
  state.ensure();
  state.save({ nodeId: 'n-1', nodeName: 'a', server: 'h:1', keyPem: 'KEY1', certPem: 'CERT1', caPem: 'CA', commandSigningKey: Buffer.from([1, 2]) });
  return state;
}

describe('AgentState credentials', () => {
  it('replaces key and certificate together', () => {
    const state = enrolled();
    state.saveCredentials('KEY2', 'CERT2');
    expect(state.load()).toMatchObject({ keyPem: 'KEY2', certPem: 'CERT2', nodeId: 'n-1' });
    expect(existsSync(join(state.dir, 'agent.crt.new'))).toBe(false);
  });

  it('finishes a swap cut off by a crash, so key and certificate always match', () => {
    const state = enrolled();
    // Crash after both .new files were written and the key was moved, before the certificate was.
    writeFileSync(join(state.dir, 'agent.key.new'), 'KEY3');
    writeFileSync(join(state.dir, 'agent.crt.new'), 'CERT3');
    writeFileSync(join(state.dir, 'agent.key'), readFileSync(join(state.dir, 'agent.key.new')));
    unlinkSync(join(state.dir, 'agent.key.new'));
    expect(state.load()).toMatchObject({ keyPem: 'KEY3', certPem: 'CERT3' });
  });
});
