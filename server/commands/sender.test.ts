// CommandSender: commands to one node leave in order even when the signer answers out of order,
// each is signed over exactly the bytes sent, and a signer that fails sends nothing.
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

  it('answers false when the node is not connected or the signer fails, and sends nothing unsigned', async () => {
    const offline = link(false);
    expect(await new CommandSender({ link: offline, signer: { sign: async () => Buffer.alloc(64) }, log: silentLogger() }).send('n-3', 'c-1', exec(1))).toBe(false);
    const l = link();
    const broken = new CommandSender({ link: l, signer: { sign: async () => Promise.reject(new Error('HSM unreachable')) }, log: silentLogger() });
    expect(await broken.send('n-3', 'c-2', exec(2))).toBe(false);
    expect(l.sent).toEqual([]);
  });
});
