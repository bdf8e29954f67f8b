import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { AgentRefusedOnNatsError } from './errors';
import { checkHelloProof, makeHelloProof } from './hello-proof';
import { newTestCa } from './test-ca';

describe('Hello proof', () => {
  let ca: X509Certificate;
  let agent: { keyPem: string; certPem: string; fingerprint: string };
  let stranger: { keyPem: string; certPem: string };
  const payload = new Uint8Array([1, 2, 3]);

  beforeAll(async () => {
    const fleetCa = await newTestCa();
    ca = new X509Certificate(fleetCa.caPem);
    agent = await fleetCa.issue('n-1');
    // Same node id, but a certificate from another fleet's CA.
    stranger = await (await newTestCa()).issue('n-1');
  });

  it("returns the certificate's fingerprint for a good proof", () => {
    const proof = makeHelloProof('n-1', 'link-a', payload, agent.keyPem, agent.certPem);
    expect(checkHelloProof('n-1', 'link-a', payload, proof, ca)).toBe(agent.fingerprint);
  });

  it('refuses another node, another link, other bytes, an old proof, a foreign CA, or none', () => {
    const proof = makeHelloProof('n-1', 'link-a', payload, agent.keyPem, agent.certPem);
    const refused = (f: () => unknown, why: RegExp) => {
      expect(f).toThrow(why);
      expect(f).toThrow(AgentRefusedOnNatsError);
    };
    refused(() => checkHelloProof('n-2', 'link-a', payload, proof, ca), /another node/);
    refused(() => checkHelloProof('n-1', 'link-b', payload, proof, ca), /signature/);
    refused(() => checkHelloProof('n-1', 'link-a', new Uint8Array([9]), proof, ca), /signature/);
    refused(() => checkHelloProof('n-1', 'link-a', payload, proof, ca, Date.now() + 3_600_000), /too old/);
    refused(() => checkHelloProof('n-1', 'link-a', payload, makeHelloProof('n-1', 'link-a', payload, stranger.keyPem, stranger.certPem), ca), /not issued by this fleet CA/);
    refused(() => checkHelloProof('n-1', 'link-a', payload, {}, ca), /no certificate proof/);
    // A proof signed with another key than the certificate's.
    const forged = { ...proof, proof: makeHelloProof('n-1', 'link-a', payload, stranger.keyPem, stranger.certPem).proof };
    refused(() => checkHelloProof('n-1', 'link-a', payload, forged, ca), /signature/);
  });
});
