import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { bannerText, reachableHosts } from './banner';

const addr = (address: string, internal = false): NetworkInterfaceInfo =>
  ({ address, family: address.includes(':') ? 'IPv6' : 'IPv4', internal, netmask: '', mac: '52:54:00:00:00:01', cidr: null, ...(address.includes(':') ? { scopeid: 0 } : {}) }) as NetworkInterfaceInfo;

const interfaces = {
  lo: [addr('127.0.0.1', true), addr('::1', true)],
  eth0: [addr('192.168.1.10'), addr('fe80::5054:ff:fe12:3456'), addr('2001:db8::10')],
  eth1: [addr('10.0.0.5'), addr('169.254.3.4')],
};

const base = { version: '1.2.3', caHash: 'ab'.repeat(32), installPin: 'sha256//PIN=', names: [] as string[], interfaces, grpc: { host: '0.0.0.0', port: 7443 }, https: { host: '0.0.0.0', port: 8443 } };

describe('reachableHosts', () => {
  it('is the bound address when the server is bound to one', () => {
    expect(reachableHosts('10.231.4.1', ['fleet.example.com'], interfaces)).toEqual({ hosts: ['10.231.4.1'], more: 0 });
    expect(reachableHosts('127.0.0.1', [], interfaces).hosts).toEqual(['127.0.0.1']);
  });

  it('is every --name when bound to all addresses', () => {
    expect(reachableHosts('0.0.0.0', ['fleet.example.com', '192.168.1.10'], interfaces).hosts).toEqual(['fleet.example.com', '192.168.1.10']);
  });

  it("is the machine's own addresses without --name: no loopback or link-local, IPv6 only when bound to ::", () => {
    expect(reachableHosts('0.0.0.0', [], interfaces).hosts).toEqual(['192.168.1.10', '10.0.0.5']);
    expect(reachableHosts('::', [], interfaces).hosts).toEqual(['192.168.1.10', '10.0.0.5', '2001:db8::10']);
    expect(reachableHosts('0.0.0.0', [], { lo: [addr('127.0.0.1', true)] }).hosts).toEqual(['127.0.0.1']);
  });

  it('prints at most five addresses and counts the rest', () => {
    const many = { eth0: Array.from({ length: 8 }, (_, i) => addr(`10.0.0.${i + 1}`)) };
    expect(reachableHosts('0.0.0.0', [], many)).toEqual({ hosts: ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'], more: 3 });
  });
});

describe('bannerText', () => {
  it('prints the install line with the bound address, never the hostname', () => {
    const text = bannerText({ ...base, grpc: { host: '10.231.4.1', port: 7443 }, https: { host: '10.231.4.1', port: 8443 }, pxe: { host: '10.231.4.1', port: 8080 } });
    expect(text).toBe(
      `fleet-server 1.2.3 listening on 10.231.4.1:7443\nCA fingerprint: sha256:${'ab'.repeat(32)}\ninstalls on https://10.231.4.1:8443 (pin sha256//PIN=)\n` +
        `PXE on http://10.231.4.1:8080/pxe/boot.ipxe\n` +
        `install an agent: curl -fsSL -k --pinnedpubkey 'sha256//PIN=' https://10.231.4.1:8443/install.sh | sudo sh -s -- --token TOKEN\n`,
    );
  });

  it('prints one install and one login line per --name when bound to all addresses', () => {
    const text = bannerText({ ...base, names: ['fleet.example.com', '2001:db8::10'], firstAdminToken: 'fa1_x' });
    expect(text).toContain('listening on 0.0.0.0:7443\n');
    expect(text).toContain('installs on https://fleet.example.com:8443, https://[2001:db8::10]:8443 (pin sha256//PIN=)\n');
    expect(text).toContain(
      'install an agent (use an address the machine reaches this server by):\n' +
        "  curl -fsSL -k --pinnedpubkey 'sha256//PIN=' https://fleet.example.com:8443/install.sh | sudo sh -s -- --token TOKEN\n" +
        "  curl -fsSL -k --pinnedpubkey 'sha256//PIN=' https://[2001:db8::10]:8443/install.sh | sudo sh -s -- --token TOKEN\n",
    );
    expect(text).toContain('\n  fleet login --server https://fleet.example.com:7443 --token fa1_x --ca-hash sha256:');
    expect(text).toContain('\n  fleet login --server https://[2001:db8::10]:7443 --token fa1_x --ca-hash sha256:');
  });

  it("uses the machine's addresses when bound to all of them without --name, and says how to choose", () => {
    const many = { eth0: Array.from({ length: 7 }, (_, i) => addr(`10.0.0.${i + 1}`)) };
    const text = bannerText({ ...base, interfaces: many });
    expect(text).toContain('https://10.0.0.5:8443/install.sh');
    expect(text).not.toContain('https://10.0.0.6:8443');
    expect(text).toContain('(and 2 more addresses: start fleet-server with --name to choose the ones printed)');
  });
});
