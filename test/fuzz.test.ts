// Property-based fuzzing, a few cases per category (npm run fuzz runs many more and tallies them):
// every outcome is an answer for valid input or a typed error for invalid input, in time, and the
// worker keeps serving the rows sent with a bad one.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FUZZ_CATEGORIES } from './fuzz/categories.js';
import { startFixture, type FuzzFixture } from './fuzz/fixture.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 25);

let fixture: FuzzFixture;
beforeAll(async () => {
  fixture = await startFixture();
}, 60_000);
afterAll(async () => {
  await fixture?.close();
});

describe('fuzzing', () => {
  for (const category of FUZZ_CATEGORIES) {
    it(`${category.name}: answered or refused with a typed error, never hung`, async () => {
      await fc.assert(
        fc.asyncProperty(category.property(fixture), async (run) => {
          const outcome = await run();
          expect(outcome, outcome.detail).toMatchObject({ verdict: 'correct' });
        }),
        { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 20261207) },
      );
    }, 120_000);
  }
});
