import { describe, expect, it } from 'vitest';
import { Facts, OutputStream } from '../proto/gen/fleet/v1/common';
import type { ExecEvent } from '../proto/gen/fleet/v1/agent';
import { emulatedFacts, emulatedIdentity, emulatedIpv4, emulatedMac, emulatedNodeName, filesNeeded, forEachLimited, openFilesLimit, syntheticRunner } from './emulate';

describe('emulated identities', () => {
  it('names nodes with a zero-padded number and gives each its own MAC and address', () => {
    expect(emulatedNodeName('emu', 1)).toBe('emu-00001');
    expect(emulatedNodeName('rack2', 10_000)).toBe('rack2-10000');
    expect(emulatedNodeName('emu', 123_456)).toBe('emu-123456');
    expect(emulatedMac(1)).toBe('02:fe:00:00:00:01');
    expect(emulatedMac(70_000)).toBe('02:fe:00:01:11:70');
    expect(emulatedIpv4(70_000)).toBe('10.1.17.112');
    expect(new Set(Array.from({ length: 20_000 }, (_, i) => emulatedMac(i + 1))).size).toBe(20_000);
    expect(emulatedIdentity('emu-00007', 7)).toEqual({ hostname: 'emu-00007', macs: ['02:fe:00:00:00:07'], dmiUuid: '', serial: '' });
  });

  it('patches the real facts: own hostname and interface, at most one disk, the rest kept', () => {
    const base = Facts.fromPartial({
      os: { platform: 'linux', distro: 'Debian GNU/Linux', release: '12', hostname: 'real-host', kernel: '6.1', arch: 'x64' },
      cpu: { cores: 2, brand: 'Xeon' },
      memory: { totalBytes: 24 << 30 },
      disks: [{ device: '/dev/sda' }, { device: '/dev/sdb' }],
      interfaces: [{ name: 'ens3', mac: 'aa:bb:cc:dd:ee:ff', ipv4: ['192.0.2.10'] }],
      uptimeSeconds: 100,
    });
    const f = emulatedFacts(base, 'emu-00042', 42);
    expect(f.os?.hostname).toBe('emu-00042');
    expect(f.os?.distro).toBe('Debian GNU/Linux');
    expect(f.cpu?.cores).toBe(2);
    expect(Number(f.memory?.totalBytes)).toBe(24 << 30);
    expect(f.disks.map((d) => d.device)).toEqual(['/dev/sda']);
    expect(f.interfaces).toEqual([{ name: 'eth0', mac: '02:fe:00:00:00:2a', ipv4: ['10.0.0.42'], ipv6: [], internal: false, virtual: true }]);
    // The real facts are not changed.
    expect(base.os?.hostname).toBe('real-host');
    expect(base.interfaces[0]!.name).toBe('ens3');
  });
});

describe('syntheticRunner', () => {
  it('answers at once: started, one line naming the command, exit 0', async () => {
    const events: NonNullable<ExecEvent['body']>[] = [];
    await syntheticRunner({ jobId: 'j-abcd', argv: ['echo', 'hi'], shell: '', timeoutMs: 1000 }, (b) => events.push(b));
    expect(events.map((e) => e.$case)).toEqual(['started', 'output', 'finished']);
    const out = events[1]!;
    expect(out.$case === 'output' && [out.value.stream, out.value.data.toString()]).toEqual([OutputStream.OUTPUT_STREAM_STDOUT, 'emulated: echo hi\n']);
    expect(events[2]).toEqual({ $case: 'finished', value: { exitCode: 0, signal: '', timedOut: false, error: '' } });
    const script: NonNullable<ExecEvent['body']>[] = [];
    await syntheticRunner({ jobId: 'j-abcd', argv: [], shell: 'uptime | wc -l', timeoutMs: 1000 }, (b) => script.push(b));
    expect(script[1]!.$case === 'output' && script[1]!.value.data.toString()).toBe('emulated: uptime | wc -l\n');
  });
});

describe('open files', () => {
  it('reads the soft limit from /proc/self/limits', () => {
    const text = 'Limit                     Soft Limit           Hard Limit           Units     \nMax cpu time              unlimited            unlimited            seconds   \nMax open files            1024                 20000                files     \n';
    expect(openFilesLimit(text)).toBe(1024);
    expect(openFilesLimit(text.replace('1024 ', 'unlimited'))).toBeNull();
    expect(openFilesLimit('')).toBeNull();
    expect(filesNeeded(10_000, 50)).toBeGreaterThan(10_000);
  });
});

describe('forEachLimited', () => {
  it('runs everything with at most N at a time', async () => {
    let inFlight = 0;
    let most = 0;
    const done: number[] = [];
    await forEachLimited(Array.from({ length: 30 }, (_, i) => i), 4, async (i) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, 1 + (i % 3)));
      inFlight--;
      done.push(i);
    });
    expect(most).toBe(4);
    expect(done.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });

  it('stops taking new items after a failure and rejects with it', async () => {
    const seen: number[] = [];
    await expect(
      forEachLimited([1, 2, 3, 4, 5, 6], 1, async (i) => {
        seen.push(i);
        if (i === 2) throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect(seen).toEqual([1, 2]);
  });
});
