// The agent's side: garbage and mutated ServerMessage envelopes published onto a NATS agent's
// own subject (fleet.v1.node.<id>.in) with the server's credentials — what a compromised broker
// or a stolen server identity could send. Random bytes, mutated welcomes, heartbeats, acks and
// wrongly signed commands, with no headers, with a stranger's link id, or with the agent's live
// link id and wrong sequence numbers or a close. The verdict is the batch's health check: the
// agent process still the same and still answering a real `fleet exec`.
import { connect, credsAuthenticator, headers as natsHeaders } from 'nats';
import { mutateFrame, randomMessage } from '../mutate.mjs';
import { serverMessageSamples } from '../samples.mjs';

const BIG_EVERY = 500;

/** The agent-over-NATS target (needs nats-server; skipped by the runner without a NATS agent). */
export function agentNatsTarget(project) {
  return {
    name: 'agent-nats',
    needsFleet: true,
    concurrency: 1,
    async setup(ctx) {
      const f = ctx.fleet;
      const nodeId = f.nodeIds['fuzz-nats'];
      const authority = await project.NatsAuthority.loadOrCreate(f.dataDir);
      const nc = await connect({ servers: f.natsUrl, authenticator: credsAuthenticator(new TextEncoder().encode(await authority.serverCredentials('fleet-fuzz'))), name: 'fleet-fuzz' });
      const state = { nc, nodeId, link: '', seq: 0, samples: serverMessageSamples(nodeId) };
      // Learn the agent's live link id and sequence from what it sends the server.
      nc.subscribe(`fleet.v1.node.${nodeId}.out`, {
        callback: (_err, msg) => {
          const link = msg.headers?.get('Fleet-Link');
          if (link) state.link = link;
        },
      });
      return state;
    },
    async teardown(state) {
      await state?.nc.drain();
    },
    async runCase(ctx, rng, i, verdict, state) {
      let data;
      if (i % BIG_EVERY === 7) data = Buffer.alloc(rng.pick([1 << 20, 7 << 20]), 0x1a);
      else {
        const r = rng.int(10);
        if (r < 3) data = rng.bytes(rng.size(2048));
        else if (r < 4) data = randomMessage(rng, 3);
        else if (r < 9) data = mutateFrame(rng, rng.pick(state.samples))[1];
        else data = rng.pick(state.samples);
      }
      const h = natsHeaders();
      const r = rng.int(6);
      if (r === 1) h.set('Fleet-Link', rng.string(20).replace(/[^\x21-\x7e]/g, 'x') || 'x');
      if (r >= 2 && state.link) {
        h.set('Fleet-Link', state.link);
        h.set('Fleet-Seq', String(rng.pick([0, -1, 1, 2 ** 53, rng.int(1000), 'NaN', ''])));
        if (r === 5) h.set('Fleet-Control', rng.pick(['close', 'open', rng.string(5).replace(/[^\x21-\x7e]/g, 'x') || 'x']));
      }
      state.nc.publish(`fleet.v1.node.${state.nodeId}.in`, data, r === 0 ? undefined : { headers: h });
      if (i % 100 === 99) await state.nc.flush();
      verdict.ok();
    },
  };
}
