import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { AgentLink, AgentLinkHandlers, AgentTransport } from '../transport';
import { Agent, backoffDelay, defaultAgentOptions } from './agent';
import { Spool } from './spool';
import { AgentState } from './state';
import { UpgradeMarkers } from './upgrade';

describe('backoffDelay', () => {
  it('grows exponentially up to the cap, with full jitter', () => {
    expect(backoffDelay(0, 500, 30_000, () => 0.999)).toBe(499);
    expect(backoffDelay(3, 500, 30_000, () => 0.999)).toBe(3996);
    expect(backoffDelay(20, 500, 30_000, () => 0.999)).toBe(29_970);
    expect(backoffDelay(1000, 500, 30_000, () => 0.5)).toBe(15_000);
    expect(backoffDelay(5, 500, 30_000, () => 0)).toBe(0);
  });
});

describe('Agent link', () => {
  it('gives up a link that gets no Welcome in time and connects again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-test-'));
    const connects: number[] = [];
    let closes = 0;
    // A server that accepts the connection and then never answers (a half-open connect).
    const silent: AgentTransport = {
      enroll: () => Promise.reject(new Error('not used')),
      connect: (handlers: AgentLinkHandlers): AgentLink => {
        connects.push(Date.now());
        return {
          send: () => true,
          close: () => {
            closes++;
            handlers.onClose(new Error('closed'));
          },
        } as unknown as AgentLink;
      },
      openChannel: () => {
        throw new Error('not used');
      },
      renew: () => Promise.reject(new Error('not used')),
      close: () => undefined,
    };
    const state = new AgentState(dir);
    const log = pino({ level: 'silent' });
    const agent = new Agent({
      identity: {
        nodeId: 'n1',
        nodeName: 'n1',
        server: '127.0.0.1:1',
        keyPem: '',
        certPem: '',
        caPem: '',
        commandSigningKey: generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' }),
      },
      state,
      spool: new Spool(state.spoolDir, log),
      markers: new UpgradeMarkers(dir),
      log,
      options: { ...defaultAgentOptions(), root: join(dir, 'root'), reconnectBaseMs: 1, reconnectMaxMs: 1, welcomeTimeoutMs: 150 },
      transport: () => silent,
    });
    const running = agent.run();
    await new Promise((r) => setTimeout(r, 700));
    agent.stop();
    await running;
    rmSync(dir, { recursive: true, force: true });
    // About one attempt per 150 ms; each was closed by the agent, not left hanging.
    expect(connects.length).toBeGreaterThanOrEqual(3);
    expect(connects.length).toBeLessThanOrEqual(6);
    expect(closes).toBeGreaterThanOrEqual(connects.length - 1);
    expect(connects[1]! - connects[0]!).toBeGreaterThanOrEqual(140);
  });
});
