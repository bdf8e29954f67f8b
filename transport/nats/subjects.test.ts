import { describe, expect, it } from 'vitest';
import { agentPermissions, isSubjectToken, parseAgentSubject, serverPermissions, subjects } from './subjects';

describe('NATS subjects', () => {
  it('lays out a node\'s subjects and parses what the server receives', () => {
    expect(subjects.nodeIn('n-abc')).toBe('fleet.v1.node.n-abc.in');
    expect(subjects.channelOut('n-abc', 's-1')).toBe('fleet.v1.node.n-abc.chan.s-1.out');
    expect(parseAgentSubject('fleet.v1.node.n-abc.out')).toEqual({ nodeId: 'n-abc' });
    expect(parseAgentSubject('fleet.v1.node.n-abc.chan.s-1.out')).toEqual({ nodeId: 'n-abc', channelId: 's-1' });
    for (const bad of ['fleet.v1.node.n-abc.in', 'fleet.v1.node.*.out', 'fleet.v2.node.n.out', 'fleet.v1.node.n.chan.out', 'fleet.v1.node.n.x.s.out']) {
      expect(parseAgentSubject(bad), bad).toBeNull();
    }
  });

  it('accepts only plain tokens as ids', () => {
    expect(isSubjectToken('n-4f8k2m9x3q')).toBe(true);
    for (const bad of ['', 'a.b', '*', '>', 'a b', 'x'.repeat(65)]) expect(isSubjectToken(bad), bad).toBe(false);
    expect(() => agentPermissions('a.>')).toThrow();
  });

  it("gives an agent its own subjects only, and the server every agent's", () => {
    expect(agentPermissions('n-1')).toEqual({
      pub: { allow: ['fleet.v1.node.n-1.out', 'fleet.v1.node.n-1.chan.*.out'] },
      sub: { allow: ['fleet.v1.node.n-1.in', 'fleet.v1.node.n-1.chan.*.in', 'fleet.v1.broadcast'] },
    });
    expect(serverPermissions().sub.allow).toEqual(['fleet.v1.node.*.out', 'fleet.v1.node.*.chan.*.out']);
    expect(serverPermissions().pub.allow).toContain('fleet.v1.node.*.in');
  });
});
