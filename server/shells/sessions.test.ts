// ShellSession flow control: the consumer's acks reach the agent, but only once the recording has
// caught up with the disk, so output waiting to be recorded stays bounded by the agent's window.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChannelFrame } from '../../proto/gen/fleet/v1/agent';
import type { ChannelConnection } from '../../transport';
import { LocalRecordings } from './local-recordings';
import { Recording, RECORDING_BACKLOG_BYTES } from './recording';
import { silentLogger } from '../../common/logger';
import type { AgentHub } from '../agent-hub';
import type { CommandSender } from '../commands';
import { openSqliteStores, type SessionStore } from '../store';
import { ShellLimitError, ShellSession, ShellSessions, defaultShellLimits } from './sessions';
import { ChannelRelay } from './channel-relay';
import { LocalBus } from '../bus';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A session on a real recording file, bound to a channel that keeps what is sent to the agent. */
function session() {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-shell-'));
  dirs.push(dir);
  const recording = new Recording(new LocalRecordings(dir).create('s'), { cols: 80, rows: 24, title: 't', term: 'xterm' });
  const manager = { limits: defaultShellLimits(), ended: () => {} } as unknown as ShellSessions;
  const s = new ShellSession(manager, { id: 's-1', nodeId: 'n-1', nodeName: 'web-1', user: 'api:x', source: 'cli', recording });
  const toAgent: ChannelFrame[] = [];
  let fromAgent: (frame: ChannelFrame) => void = () => {};
  const channel: ChannelConnection = {
    nodeId: 'n-1',
    credentialFingerprint: 'f',
    send: (frame) => toAgent.push(frame) > 0,
    close: () => {},
    onMessage: (handler) => (fromAgent = handler),
    onClose: () => {},
  };
  s.bind(channel);
  const acks = () => toAgent.flatMap((f) => (f.body?.$case === 'ack' ? [Number(f.body.value)] : []));
  return { s, recording, output: (data: Buffer) => fromAgent({ body: { $case: 'data', value: data } }), acks };
}

describe('ShellSession acks', () => {
  it('passes the consumer\'s acks to the agent at once while the recording keeps up', () => {
    const { s, output, acks } = session();
    s.attach({ output: () => {}, exit: () => {} });
    output(Buffer.from('hello\r\n'));
    s.ack(7);
    expect(acks()).toEqual([7]);
  });

  it('holds the acks back while the recording lags behind the disk, then sends the latest once it has caught up', async () => {
    const { s, recording, output, acks } = session();
    let seen = 0;
    s.attach({ output: (_data, _stream, end) => (seen = end), exit: () => {} });
    // More than the recording may hold for the disk, arriving in one turn of the event loop.
    const chunk = Buffer.alloc(64 * 1024, 'y');
    for (let i = 0; i * chunk.length <= 2 * RECORDING_BACKLOG_BYTES; i++) {
      output(chunk);
      s.ack(seen);
    }
    expect(recording.backlogged).toBe(true);
    const sentEarly = acks();
    // The agent heard of no more than what arrived before the recording fell behind.
    expect(Math.max(0, ...sentEarly)).toBeLessThanOrEqual(RECORDING_BACKLOG_BYTES);
    await new Promise<void>((resolve) => recording.whenCaughtUp(resolve));
    expect(acks().at(-1)).toBe(seen);
    s.close('done');
  });
});

describe('ShellSessions per-user limit', () => {
  it('refuses the second of two opens racing each other when one shell is allowed, however slow the store', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-shells-'));
    dirs.push(dir);
    const stores = openSqliteStores(':memory:');
    await stores.nodes.insert({ id: 'n-1', name: 'web-1', labels: {}, facts: undefined, identity: { hostname: 'web-1', macs: [], dmiUuid: '', serial: '' }, certFingerprint: 'f', prevCertFingerprint: null, certNotAfter: 0, agentVersion: '1', joinTokenId: null, enrolledAt: 0, lastSeenAt: null });
    // A shared store answers later than SQLite does: both opens are past their limit check before either is stored.
    const real = stores.sessions;
    const slow: SessionStore = {
      start: async (s) => (await new Promise((r) => setTimeout(r, 20)), real.start(s)),
      end: (id, e) => real.end(id, e),
      get: (id) => real.get(id),
      list: (limit, nodeId) => real.list(limit, nodeId),
      closeDangling: (at) => real.closeDangling(at),
    };
    const shells = new ShellSessions({
      nodes: stores.nodes,
      hub: { isOnline: () => true } as unknown as AgentHub,
      commands: { send: async () => true } as unknown as CommandSender,
      store: slow,
      audit: stores.audit,
      log: silentLogger(),
      recordings: new LocalRecordings(dir),
      limits: { ...defaultShellLimits(), maxPerUser: 1 },
    });
    const open = () => shells.open({ node: 'web-1', user: 'api:x', source: 'cli', cols: 80, rows: 24, argv: [], pty: true, term: 'xterm' });
    const results = await Promise.allSettled([open(), open()]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(ShellLimitError);
    shells.stop();
    await stores.close();
  });
});

describe('ShellSessions across replicas', () => {
  it('relays a channel the agent opened on another replica to the session, both ways, and ends both when the shell exits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-shells-'));
    dirs.push(dir);
    const stores = openSqliteStores(':memory:');
    await stores.nodes.insert({ id: 'n-1', name: 'web-1', labels: {}, facts: undefined, identity: { hostname: 'web-1', macs: [], dmiUuid: '', serial: '' }, certFingerprint: 'f', prevCertFingerprint: null, certNotAfter: 0, agentVersion: '1', joinTokenId: null, enrolledAt: 0, lastSeenAt: null });
    const bus = new LocalBus();
    const replica = () =>
      new ShellSessions({
        nodes: stores.nodes,
        hub: { isOnline: () => true },
        commands: { send: async () => true } as unknown as CommandSender,
        store: stores.sessions,
        audit: stores.audit,
        log: silentLogger(),
        recordings: new LocalRecordings(dir),
        limits: defaultShellLimits(),
        relay: new ChannelRelay(bus, silentLogger()),
      });
    const [held, reached] = [replica(), replica()];
    const session = await held.open({ node: 'web-1', user: 'api:x', source: 'cli', cols: 80, rows: 24, argv: [], pty: false, term: 'xterm' });
    const output: string[] = [];
    let exit: number | undefined;
    session.attach({ output: (data) => output.push(data.toString()), exit: (code) => (exit = code) });
    // The agent's channel reaches the other replica.
    const toAgent: ChannelFrame[] = [];
    let fromAgent: (frame: ChannelFrame) => void = () => {};
    let closed = false;
    reached.channel({
      nodeId: 'n-1',
      credentialFingerprint: 'f',
      send: (frame) => toAgent.push(frame) > 0,
      close: () => void (closed = true),
      onMessage: (handler) => (fromAgent = handler),
      onClose: () => {},
    });
    fromAgent({ body: { $case: 'open', value: { channelId: session.id } } });
    fromAgent({ body: { $case: 'data', value: Buffer.from('hello\n') } });
    await vi.waitFor(() => expect(output).toEqual(['hello\n']));
    session.write(Buffer.from('ls\n'));
    expect(toAgent.flatMap((f) => (f.body?.$case === 'data' ? [Buffer.from(f.body.value).toString()] : []))).toEqual(['ls\n']);
    fromAgent({ body: { $case: 'close', value: { exitCode: 3, reason: '' } } });
    await vi.waitFor(() => expect(exit).toBe(3));
    expect(closed).toBe(true);
    // A channel for a session nobody holds is refused.
    let refused: Error | undefined;
    let stray: (frame: ChannelFrame) => void = () => {};
    reached.channel({ nodeId: 'n-1', credentialFingerprint: 'f', send: () => true, close: (e) => void (refused = e), onMessage: (h) => (stray = h), onClose: () => {} });
    stray({ body: { $case: 'open', value: { channelId: 's-nobody' } } });
    await vi.waitFor(() => expect(refused?.message).toBe('no shell is waiting for this channel'));
    held.stop();
    reached.stop();
    await stores.close();
  });
});
