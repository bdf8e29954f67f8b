// gRPC targets: every method of the Control and Agent services, called with raw bytes through a
// grpc-js client with identity serializers (what the fuzzer builds is exactly what goes on the
// wire): random bytes, random protobuf framing, mutated valid requests, valid requests, and now
// and then a message over the server's 16 MiB limit; with an admin token, none or a garbage
// one, and on the Agent service with and without an enrolled node's client certificate.
import grpc from '@grpc/grpc-js';
import { mutateFrame, mutateText, randomMessage, lenField } from '../mutate.mjs';
import { agentSamples, controlSamples, SELECTOR_PIECES, SELECTORS } from '../samples.mjs';

const identity = (b) => b;
const DEADLINE_MS = 10_000;
const OVERSIZED = 16 * 1024 * 1024 + 1024;
/** One oversized case in this many (each sends 16 MiB). */
const OVERSIZED_EVERY = 400;
const CLEAR = (code) => code !== grpc.status.UNKNOWN && code !== grpc.status.INTERNAL;

function methodsOf(service) {
  return Object.values(service).map((m) => ({ path: m.path, name: m.path.split('/').pop(), requestStream: m.requestStream, responseStream: m.responseStream }));
}

/** One request body (or stream of them) for a case; returns [how, messages]. */
function payloads(rng, i, samples, method, ctx) {
  const base = samples[method.name] ?? [Buffer.alloc(0)];
  const count = method.requestStream ? rng.range(1, 3) : 1;
  if (i % OVERSIZED_EVERY === 7) {
    const big = Buffer.alloc(OVERSIZED, 0x61);
    lenField(1, Buffer.alloc(0)).copy(big);
    return ['oversized', [big]];
  }
  const r = rng.int(100);
  // Tokens and selectors over the wire: mutated join tokens on Enroll, mutated selectors on ListNodes.
  if (method.name === 'Enroll' && r < 40) return ['mutated join token', [samples.enrollWith(mutateText(rng, ctx.fleet.joinToken, ['_', 'fj1_', '0', 'f']))]];
  if ((method.name === 'ListNodes' || method.name === 'ListHealth') && r < 40) return ['mutated selector', [lenField(1, Buffer.from(mutateText(rng, rng.pick(SELECTORS), SELECTOR_PIECES)))]];
  const out = [];
  let how = '';
  for (let k = 0; k < count; k++) {
    const pick = base[k % base.length];
    if (r < 25) (how = 'random bytes'), out.push(rng.bytes(rng.size(4096)));
    else if (r < 40) (how = 'random protobuf'), out.push(randomMessage(rng, 3));
    else if (r < 90) {
      const [what, bytes] = mutateFrame(rng, pick);
      how = `mutated: ${what}`;
      out.push(bytes);
    } else (how = 'valid'), out.push(pick);
  }
  return [how, out];
}

function metadataFor(rng, mode, admin) {
  const md = new grpc.Metadata();
  if (mode === 'admin') md.set('authorization', `Bearer ${admin}`);
  else if (mode === 'garbage') {
    const value = rng.pick([`Bearer ${mutateText(rng, admin)}`, `Bearer fa1_${'0'.repeat(12)}_${'0'.repeat(40)}`, mutateText(rng, admin), 'Basic Zm9vOmJhcg==', `Bearer ${'A'.repeat(rng.size(8000))}`]);
    try {
      md.set('authorization', value.replace(/[^\x20-\x7e]/g, '?'));
    } catch {
      md.set('authorization', 'Bearer ???');
    }
  }
  return md;
}

/** Makes one call and resolves with its final status (or a client-side timeout). */
function call(client, method, messages, metadata) {
  const deadline = Date.now() + DEADLINE_MS;
  return new Promise((resolve) => {
    const done = (status) => resolve(status);
    if (!method.requestStream && !method.responseStream) {
      client.makeUnaryRequest(method.path, identity, identity, messages[0], metadata, { deadline }, (err) => done(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }));
      return;
    }
    let stream;
    const finish = (s) => done(s);
    if (method.requestStream && !method.responseStream) {
      stream = client.makeClientStreamRequest(method.path, identity, identity, metadata, { deadline }, (err) => finish(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' }));
    } else if (!method.requestStream) {
      stream = client.makeServerStreamRequest(method.path, identity, identity, messages[0], metadata, { deadline });
    } else {
      stream = client.makeBidiStreamRequest(method.path, identity, identity, metadata, { deadline });
    }
    if (method.responseStream) {
      stream.on('data', () => {});
      stream.on('error', () => {});
      stream.on('status', (s) => finish({ code: s.code, details: s.details }));
    }
    if (method.requestStream) {
      for (const m of messages) stream.write(m);
      stream.end();
    }
  });
}

function grpcTarget(name, service, samplesOf, authModes) {
  return {
    name,
    needsFleet: true,
    concurrency: 16,
    setup(ctx) {
      const f = ctx.fleet;
      const options = { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 };
      const address = `127.0.0.1:${f.fleet.port}`;
      const plain = new grpc.Client(address, grpc.credentials.createSsl(f.tls.ca), options);
      const withCert = new grpc.Client(address, grpc.credentials.createSsl(f.tls.ca, f.tls.key, f.tls.cert), options);
      const samples = samplesOf(f.joinToken);
      return { plain, withCert, samples, methods: methodsOf(service) };
    },
    teardown(state) {
      state?.plain.close();
      state?.withCert.close();
    },
    async runCase(ctx, rng, i, verdict, state) {
      const method = state.methods[i % state.methods.length];
      const drawn = authModes[rng.int(authModes.length)];
      // Leave with the lender's certificate is a valid call: it removes the lender's node, which
      // would end the fuzzer's reach into Connect, OpenChannel and Renew. It goes without one.
      const mode = drawn === 'cert' && method.name === 'Leave' ? 'none' : drawn;
      const [how, messages] = payloads(rng, i, state.samples, method, ctx);
      const client = mode === 'cert' ? state.withCert : state.plain;
      const status = await call(client, method, messages, metadataFor(rng, mode, ctx.fleet.adminToken));
      const input = { method: method.path, auth: mode, how, messages: messages.map((m) => (m.length > 65536 ? `<${m.length} bytes>` : m.toString('base64'))) };
      if (status.code === grpc.status.OK) return verdict.ok();
      // The client gave up waiting: the server left the call open after the input ended.
      if (status.code === grpc.status.DEADLINE_EXCEEDED) return verdict.finding('hang', `${method.name} (${how}, ${mode}): no status within ${DEADLINE_MS / 1000} s`, input);
      if (!CLEAR(status.code) || !status.details) return verdict.finding('internal', `${method.name} (${how}, ${mode}): ${grpc.status[status.code]} "${status.details}"`, input);
      return verdict.refused();
    },
  };
}

/**
 * Both gRPC targets from the project's service definitions: every Control method with an admin
 * token, none, or a garbage one; every Agent method with an enrolled node's certificate or without.
 */
export function grpcTargets(project) {
  const control = (token) => ({ ...controlSamples(token), enrollWith: () => Buffer.alloc(0) });
  const agent = (token) => {
    const s = agentSamples(token);
    return { ...s, enrollWith: (t) => agentSamples(t).Enroll[0] };
  };
  return [
    grpcTarget('grpc-control', project.ControlServiceService, control, ['admin', 'admin', 'none', 'garbage']),
    grpcTarget('grpc-agent', project.AgentServiceService, agent, ['cert', 'cert', 'none', 'garbage']),
  ];
}
