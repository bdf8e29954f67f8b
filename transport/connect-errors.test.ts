// The texts Node, OpenSSL and grpc-js give for failed connections, and what fleet says instead.
import { describe, expect, it } from 'vitest';
import { droppedMidCall, explainConnectFailure } from './connect-errors';

describe('explainConnectFailure', () => {
  const grpc = (last: string) => `No connection established. Last error: Error: ${last}. Resolution note: `;

  it('names the cause and what to check for each kind of failure', () => {
    expect(explainConnectFailure(grpc('connect ECONNREFUSED 10.0.0.5:7443'), 7443).reason).toBe('connection refused');
    expect(explainConnectFailure('Name resolution failed for target dns:fleet.invalid:7443', 7443).reason).toBe('the host name does not resolve');
    expect(explainConnectFailure(grpc('getaddrinfo EAI_AGAIN fleet.example'), 7443).reason).toBe('the host name does not resolve');
    expect(explainConnectFailure(grpc('connect EHOSTUNREACH 10.9.9.9:7443'), 7443).reason).toBe('no route to the host');
    const https = explainConnectFailure(grpc('80ECE131A77F0000:error:0A000460:SSL routines:ssl3_read_bytes:tlsv1 alert no application protocol:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number 120\n'), 8443);
    expect(https.reason).toBe("it does not speak fleet's gRPC");
    expect(https.hint).toMatch(/is 8443 the server's HTTPS port/);
    expect(explainConnectFailure(grpc('self-signed certificate in certificate chain'), 7443).reason).toMatch(/not signed by the CA this context pins/);
    expect(explainConnectFailure(grpc('unable to verify the first certificate'), 7443).reason).toMatch(/not signed by the CA/);
    expect(explainConnectFailure(grpc('read ECONNRESET'), 7443).reason).toBe('the connection was closed during the handshake');
  });

  it('keeps only the useful line of an unknown failure: no grpc-js wrapping, no OpenSSL source paths', () => {
    const { reason } = explainConnectFailure(grpc('0A0000C1:SSL routines:ssl_something:no shared cipher:../deps/openssl/openssl/ssl/x.c:12:\nmore'), 7443);
    expect(reason).toBe('0A0000C1:SSL routines:ssl_something:no shared cipher');
    expect(explainConnectFailure('x'.repeat(500), 7443).reason.length).toBeLessThanOrEqual(160);
  });

  it('tells a connection that went away mid-call from one that never came up', () => {
    expect(droppedMidCall('Connection dropped')).toBe(true);
    expect(droppedMidCall('Call cancelled')).toBe(true);
    expect(droppedMidCall('Received RST_STREAM with code 2 (Call ended without gRPC status)')).toBe(true);
    expect(droppedMidCall('No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ')).toBe(false);
  });
});
