// The web sign-in honours FLEET_SIGNIN_FAILURES, as the gRPC side does (issue 13: the two had
// drifted, the web page held back an address after a fixed five failures). A real server with a
// limit of two, and sign-ins over real HTTPS.
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Fleet } from './harness';

describe('web sign-in limit', () => {
  const fleet = new Fleet({ serverEnv: { FLEET_SIGNIN_FAILURES: '2' } });
  beforeAll(() => fleet.startServer());
  afterAll(() => fleet.stop());

  const signIn = (token: string) =>
    new Promise<{ status: number; retryAfter: string | undefined }>((resolve, reject) => {
      const body = JSON.stringify({ token });
      const req = request(`${fleet.installUrl}/api/v1/session`, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }));
      });
      req.on('error', reject);
      req.end(body);
    });

  it('holds an address back after FLEET_SIGNIN_FAILURES wrong tokens, and still lets a valid one in', async () => {
    const wrong = `fa1_000000000000_${'0'.repeat(40)}`;
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await signIn(wrong));
    expect(results.map((r) => r.status)).toEqual([401, 401, 429]);
    expect(Number(results[2]!.retryAfter)).toBeGreaterThan(0);
    expect((await signIn(fleet.adminToken)).status).toBe(200);
  });
});
