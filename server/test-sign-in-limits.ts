// The contract every SignInLimits keeps (sign-in-limiter.ts), as a test suite a limiter runs on
// itself: the in-memory one here (sign-in-limiter.test.ts), a shared one later with the same cases.
import { describe, expect, it } from 'vitest';
import { TooManySignInsError } from './errors';
import type { SignInLimitOptions, SignInLimits } from './sign-in-limiter';

/** Makes a fresh limiter with these limits that reads the time from `now`. */
export type MakeSignInLimits = (options: SignInLimitOptions, now: () => number) => SignInLimits | Promise<SignInLimits>;

/** Runs the SignInLimits contract against limiters made by `make`. */
export function signInLimitsContract(name: string, make: MakeSignInLimits): void {
  describe(`SignInLimits contract: ${name}`, () => {
    /** The refusal of one more failure from the address, or null when it was counted. */
    const heldBack = async (limits: SignInLimits, address: string) => {
      try {
        await limits.failed(address);
        return null;
      } catch (err) {
        return err;
      }
    };

    it('holds an address back after five failures in a minute, until the oldest ages out', async () => {
      let now = 0;
      const limits = await make({ max: 5, windowMs: 60_000 }, () => now);
      for (let i = 0; i < 5; i++) {
        await limits.failed('10.0.0.1');
        now += 1000;
      }
      const refused = await heldBack(limits, '10.0.0.1');
      expect(refused).toBeInstanceOf(TooManySignInsError);
      expect((refused as TooManySignInsError).retryAfterSeconds).toBe(55);
      // Held-back failures are not counted: the address is free once its counted ones age out.
      expect(await heldBack(limits, '10.0.0.1')).toBeInstanceOf(TooManySignInsError);
      expect(await heldBack(limits, '10.0.0.2')).toBeNull();
      now = 60_001;
      expect(await heldBack(limits, '10.0.0.1')).toBeNull();
    });

    it('counts a sliding window: failures spread out never add up to the limit', async () => {
      let now = 0;
      const limits = await make({ max: 3, windowMs: 10_000 }, () => now);
      // One failure every 4 s: at most three fall within any 10 s, never a fourth.
      for (let i = 0; i < 20; i++) {
        expect(await heldBack(limits, '10.0.0.3')).toBeNull();
        now += 4000;
      }
      // Now (80 s) the window holds the failures of 72 s and 76 s; one more makes three, and the
      // next is refused until the one of 72 s ages out (82 s).
      await limits.failed('10.0.0.3');
      const refused = await heldBack(limits, '10.0.0.3');
      expect(refused).toBeInstanceOf(TooManySignInsError);
      expect((refused as TooManySignInsError).retryAfterSeconds).toBe(2);
    });

    it('lets concurrent failures from one address through only up to the limit', async () => {
      const limits = await make({ max: 4, windowMs: 60_000 }, () => 1000);
      const results = await Promise.all(Array.from({ length: 10 }, () => heldBack(limits, '10.0.0.4')));
      expect(results.filter((r) => r === null)).toHaveLength(4);
      expect(results.filter((r) => r instanceof TooManySignInsError)).toHaveLength(6);
    });
  });
}
