import { describe, expect, it } from 'vitest';
import { collectFacts, collectIdentity, factsFingerprint } from './inventory';

describe('inventory', () => {
  it('reads this machine: OS, kernel, CPU, memory, interfaces and uptime', async () => {
    const facts = await collectFacts();
    expect(facts.os?.platform).toBe(process.platform);
    expect(facts.os?.kernel).toMatch(/\d+\.\d+/);
    expect(facts.cpu?.cores).toBeGreaterThan(0);
    expect(facts.memory?.totalBytes).toBeGreaterThan(0);
    expect(facts.interfaces.some((i) => i.ipv4.includes('127.0.0.1'))).toBe(true);
    expect(facts.uptimeSeconds).toBeGreaterThan(0);
  });

  it('fingerprints facts the same way when only uptime moved', async () => {
    const a = await collectFacts();
    const b = { ...a, uptimeSeconds: a.uptimeSeconds + 60, collectedUnixMs: a.collectedUnixMs + 60_000 };
    expect(factsFingerprint(b)).toBe(factsFingerprint(a));
    expect(factsFingerprint({ ...a, memory: { totalBytes: 1, swapTotalBytes: 0 } })).not.toBe(factsFingerprint(a));
  });

  it('reports the hostname and MAC addresses as identity', async () => {
    const id = await collectIdentity();
    expect(id.hostname.length).toBeGreaterThan(0);
    for (const mac of id.macs) expect(mac).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  });
});
