// The in-memory sign-in limiter: the SignInLimits contract, and that it forgets addresses whose
// failures aged out (so the map does not grow with every address ever seen).
import { describe, expect, it } from 'vitest';
import { MemorySignInLimits } from './sign-in-limiter';
import { signInLimitsContract } from './test-sign-in-limits';

signInLimitsContract('MemorySignInLimits', (options, now) => new MemorySignInLimits({ ...options, now }));

describe('MemorySignInLimits', () => {
  it('forgets addresses whose failures aged out, without being asked', async () => {
    let now = 0;
    const limits = new MemorySignInLimits({ max: 5, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 100; i++) await limits.failed(`10.0.1.${i}`);
    expect(limits.size).toBe(100);
    now = 60_000;
    await limits.failed('10.0.2.1');
    expect(limits.size).toBe(1);
  });
});
