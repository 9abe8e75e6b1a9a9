// The fuzz categories, each an arbitrary (fast-check) and a check that judges one case. Run by
// test/fuzz.test.ts (a few cases each, in npm test) and scripts/fuzz.ts (many, with a tally).
import type fc from 'fast-check';
import { absurdCase, checkAbsurd } from './absurd.js';
import { checkColumns, columnCase } from './columns.js';
import type { FuzzFixture } from './fixture.js';
import { checkNetwork, networkCase } from './network.js';
import { checkRows, rowCase } from './rows.js';
import { checkSignature, signatureCase } from './signatures.js';
import type { Outcome } from './verdict.js';

export interface FuzzCategory {
  readonly name: string;
  /** One case, judged. */
  readonly property: (fixture: FuzzFixture) => fc.Arbitrary<() => Promise<Outcome>>;
}

/** A category from its case arbitrary and its check; the case is kept in the thunk for fast-check's report. */
function category<T>(name: string, arbitrary: fc.Arbitrary<T>, check: (fixture: FuzzFixture, test: T) => Promise<Outcome>): FuzzCategory {
  return {
    name,
    property: (fixture) =>
      arbitrary.map((test) => {
        const run = (): Promise<Outcome> => check(fixture, test);
        return Object.assign(run, {
          toString: () => JSON.stringify(test, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))?.slice(0, 400) ?? String(test),
        });
      }),
  };
}

export const FUZZ_CATEGORIES: readonly FuzzCategory[] = [
  category('network faults', networkCase, checkNetwork),
  category('signatures', signatureCase, checkSignature),
  category('bad rows', rowCase, (fixture, test) => checkRows(fixture.model, test)),
  category('bad columns', columnCase, (fixture, test) => checkColumns(fixture.model, test)),
  category('absurd bundles', absurdCase, checkAbsurd),
];
