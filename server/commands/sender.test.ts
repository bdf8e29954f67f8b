// CommandSender: commands to one node leave in order even when the signer answers out of order,
// each is signed over exactly the bytes sent, a signer that fails sends nothing, and a signer that
// signs at once puts each command on the link before send() returns (fan-out pipelining).
import { generateKeyPairSync, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../common/logger';
import { Command, type ServerMessage } from '../../proto/gen/fleet/v1/agent';
import { CommandSender } from './sender';
import { localSigner, type CommandSigner } from './signer';

function link(online = true) {
  const sent: { nodeId: string; id: string; payload: Buffer; signature: Buffer }[] = [];
  return {
    sent,
    send(nodeId: string, message: ServerMessage) {
      if (!online || message.body?.$case !== 'command') return false;
      const { payload, signature } = message.body.value;
      sent.push({ nodeId, id: Command.decode(payload).id, payload: Buffer.from(payload), signature: Buffer.from(signature) });
      return true;
    },
  };
}
const exec = (n: number) => ({ $case: 'exec' as const, value: { jobId: `j-${n}`, argv: ['true'], shell: '', timeoutMs: 0 } });

describe('CommandSender', () => {
  it('keeps each node\'s commands in order when signatures come back out of order', async () => {
    // The first command takes longest to sign.
    let delay = 30;
    const slow: CommandSigner = { sign: (p) => new Promise((ok) => setTimeout(() => ok(Buffer.from(p.subarray(0, 4))), (delay -= 10))) };
    const l = link();
    const sender = new CommandSender({ link: l, signer: slow, log: silentLogger() });
    const results = await Promise.all([sender.send('n-1', 'c-1', exec(1)), sender.send('n-1', 'c-2', exec(2)), sender.send('n-1', 'c-3', exec(3))]);
    expect(results).toEqual([true, true, true]);
    expect(l.sent.map((s) => s.id)).toEqual(['c-1', 'c-2', 'c-3']);
  });

  it('signs exactly the bytes it sends, naming the node and an expiry', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const l = link();
    const before = Date.now();
    expect(await new CommandSender({ link: l, signer: localSigner(privateKey), log: silentLogger() }).send('n-2', 'c-9', exec(9), 60_000)).toBe(true);
    const [s] = l.sent;
    expect(verify(null, s!.payload, publicKey, s!.signature)).toBe(true);
    const command = Command.decode(s!.payload);
    expect(command.nodeId).toBe('n-2');
    expect(command.notAfterUnixMs).toBeGreaterThanOrEqual(before + 60_000);
  });

  it('with a signer that signs at once, each command is on the link before send() returns', async () => {
    // A fan-out sends to many nodes in one loop: the first commands must leave while the rest are
    // still being signed, not all at the end of the loop.
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const l = link();
    const sender = new CommandSender({ link: l, signer: localSigner(privateKey), log: silentLogger() });
    const sentAfterEach: number[] = [];
    const pending: Promise<boolean>[] = [];
    for (const n of [1, 2, 3]) {
      pending.push(sender.send(`n-${n}`, `c-${n}`, exec(n)));
      sentAfterEach.push(l.sent.length);
    }
    expect(sentAfterEach).toEqual([1, 2, 3]);
    expect(await Promise.all(pending)).toEqual([true, true, true]);
    for (const s of l.sent) expect(verify(null, s.payload, publicKey, s.signature)).toBe(true);
  });

  it('answers false when signing at once fails, and sends nothing', async () => {
    const l = link();
    const failing: CommandSigner = { sign: async () => Buffer.alloc(64), signNow: () => { throw new Error('key unreadable'); } };
    expect(await new CommandSender({ link: l, signer: failing, log: silentLogger() }).send('n-4', 'c-1', exec(1))).toBe(false);
    expect(l.sent).toEqual([]);
  });

  it('answers false when the node is not connected or the signer fails, and sends nothing unsigned', async () => {
    const offline = link(false);
    expect(await new CommandSender({ link: offline, signer: { sign: async () => Buffer.alloc(64) }, log: silentLogger() }).send('n-3', 'c-1', exec(1))).toBe(false);
    const l = link();
    const broken = new CommandSender({ link: l, signer: { sign: async () => Promise.reject(new Error('HSM unreachable')) }, log: silentLogger() });
    expect(await broken.send('n-3', 'c-2', exec(2))).toBe(false);
    expect(l.sent).toEqual([]);
  });
});
