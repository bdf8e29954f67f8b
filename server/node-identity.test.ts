import { describe, expect, it } from 'vitest';
import type { MachineIdentity } from '../proto/gen/fleet/v1/common';
import { earlierNodes, sameMachine } from './node-identity';
import type { NodeRecord } from './store';

const id = (macs: string[], dmiUuid = ''): MachineIdentity => ({ hostname: 'h', macs, dmiUuid, serial: '' });

function node(name: string, identity: MachineIdentity, lastSeenAt: number | null = null): NodeRecord {
  return {
    id: `n-${name}`,
    name,
    labels: {},
    facts: undefined,
    identity,
    certFingerprint: 'f',
    prevCertFingerprint: null,
    certNotAfter: 0,
    agentVersion: '1',
    joinTokenId: null,
    enrolledAt: 0,
    lastSeenAt,
  };
}

describe('sameMachine', () => {
  it('needs a MAC address in common, whatever the case', () => {
    expect(sameMachine(id(['52:54:00:aa:bb:cc', '02:00:00:00:00:01']), id(['52:54:00:AA:BB:CC']))).toBe(true);
    expect(sameMachine(id(['52:54:00:aa:bb:cc']), id(['52:54:00:aa:bb:cd']))).toBe(false);
    expect(sameMachine(id([]), id([]))).toBe(false);
  });

  it('refuses differing DMI UUIDs, and a shared UUID alone is not enough', () => {
    expect(sameMachine(id(['52:54:00:aa:bb:cc'], 'uuid-a'), id(['52:54:00:aa:bb:cc'], 'uuid-b'))).toBe(false);
    expect(sameMachine(id(['52:54:00:aa:bb:cc'], 'UUID-A'), id(['52:54:00:aa:bb:cc'], 'uuid-a'))).toBe(true);
    expect(sameMachine(id(['52:54:00:aa:bb:cc'], ''), id(['52:54:00:aa:bb:cc'], 'uuid-a'))).toBe(true);
    expect(sameMachine(id(['52:54:00:aa:bb:01'], 'uuid-a'), id(['52:54:00:aa:bb:02'], 'uuid-a'))).toBe(false);
  });
});

describe('earlierNodes', () => {
  const me = id(['52:54:00:aa:bb:cc'], 'uuid-a');
  const none = () => false;

  it('takes over the most recently seen offline node of this machine, never an online one', () => {
    const old = node('h6box', me, 100);
    const older = node('h6box-2', me, 50);
    const live = node('h6box-3', me, 200);
    const other = node('other', id(['52:54:00:aa:bb:cc'], 'uuid-b'), 300);
    const found = earlierNodes([older, old, live, other], me, '', (nid) => nid === live.id);
    expect(found.offline?.name).toBe('h6box');
    expect(found.online.map((n) => n.name)).toEqual(['h6box-3']);
    expect(earlierNodes([live], me, '', () => true)).toEqual({ offline: undefined, online: [live] });
  });

  it('only a node of the asked-for name, when a name is asked for', () => {
    const old = node('web-7', me, 100);
    expect(earlierNodes([old], me, 'db-1', none).offline).toBeUndefined();
    expect(earlierNodes([old], me, 'web-7', none).offline?.name).toBe('web-7');
    expect(earlierNodes([old], me, '', none).offline?.name).toBe('web-7');
  });
});
