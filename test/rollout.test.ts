import { describe, expect, it } from 'vitest';
import { BundleError } from '../src/errors/index.js';
import { parseChannel } from '../src/bundle/index.js';
import { BanditStrategy, CanaryStrategy, bucketOf, parseRolloutPolicy, seededRandom } from '../src/rollout/index.js';
import { canaryBucket } from '../src/rollout/bucket.js';
import { caught } from './helpers.js';

const ids = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

describe('canary buckets', () => {
  it('are uniform: a 10% share takes 10% +/- 1% of 10,000 ids, and stable across calls', () => {
    const share = ids.filter((id) => canaryBucket(id, 'penguins') < 0.1).length / ids.length;
    expect(Math.abs(share - 0.1)).toBeLessThanOrEqual(0.01);
    expect(ids.map((id) => canaryBucket(id, 'penguins'))).toEqual(ids.map((id) => canaryBucket(id, 'penguins')));
  });

  it('0% assigns nobody, 100% everybody, and raising the share keeps the earlier users', () => {
    const assigned = (share: number) =>
      new Set(ids.filter((id) => new CanaryStrategy('1.0.0', '1.1.0', share, id, 'penguins').assigned === '1.1.0'));
    expect(assigned(0).size).toBe(0);
    expect(assigned(1).size).toBe(ids.length);
    const five = assigned(0.05);
    const twenty = assigned(0.2);
    expect([...five].every((id) => twenty.has(id))).toBe(true);
  });

  it('an empty id is still a stable place; another bundle puts the same user elsewhere', () => {
    expect(bucketOf('', 'x')).toBe(bucketOf('', 'x'));
    const differs = ids.slice(0, 100).filter((id) => Math.abs(canaryBucket(id, 'a') - canaryBucket(id, 'b')) > 1e-9).length;
    expect(differs).toBe(100);
  });
});

describe('rollout policy', () => {
  const offered = ['1.0.0', '1.1.0'];
  it('defaults to single and reads every strategy', () => {
    expect(parseRolloutPolicy(undefined, '1.0.0', offered)).toEqual({ strategy: 'single' });
    expect(parseRolloutPolicy({ strategy: 'canary', candidate: '1.1.0', share: 0.05 }, '1.0.0', offered)).toEqual({
      strategy: 'canary',
      candidate: '1.1.0',
      share: 0.05,
    });
    expect(parseRolloutPolicy({ strategy: 'shadow', candidate: '1.1.0' }, '1.0.0', offered)).toEqual({
      strategy: 'shadow',
      candidate: '1.1.0',
      sample: 1,
    });
    expect(parseRolloutPolicy({ strategy: 'bandit', arms: offered }, '1.0.0', offered)).toEqual({ strategy: 'bandit', arms: offered });
  });

  it('refuses a malformed policy with an error naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ strategy: 'rainbow' }, 'rollout.strategy'],
      [{ strategy: 'canary', candidate: '2.0.0', share: 0.1 }, 'rollout.candidate'],
      [{ strategy: 'canary', candidate: '1.0.0', share: 0.1 }, 'rollout.candidate'],
      [{ strategy: 'canary', candidate: '1.1.0', share: 1.5 }, 'rollout.share'],
      [{ strategy: 'canary', candidate: '1.1.0' }, 'rollout.share'],
      [{ strategy: 'bandit', arms: ['1.0.0'] }, 'rollout.arms'],
      [{ strategy: 'shadow', candidate: '1.1.0', sample: -1 }, 'rollout.sample'],
      ['canary', 'rollout.(root)'],
    ];
    for (const [policy, path] of cases) {
      const error = (await caught(() => parseRolloutPolicy(policy, '1.0.0', offered))) as BundleError;
      expect(error, JSON.stringify(policy)).toBeInstanceOf(BundleError);
      expect(error.code).toBe('INVALID_CHANNEL');
      expect(error.details.path, JSON.stringify(policy)).toBe(path);
    }
  });

  it('a channel refuses candidates that repeat a version', async () => {
    const entry = (version: string) => ({
      version,
      manifest: `${version}/manifest.json`,
      sha256: 'a'.repeat(64),
      approval: { by: 'x', reason: 'y', at: '2026-01-01T00:00:00Z' },
    });
    const channel = {
      format: 'ondevice/channel',
      formatVersion: 2,
      name: 'p',
      sequence: 1,
      issuedAt: '2026-01-01T00:00:00Z',
      live: entry('1.0.0'),
      candidates: [entry('1.0.0')],
    };
    expect(((await caught(() => parseChannel(channel))) as BundleError).details.path).toBe('candidates');
  });
});

describe('Thompson-sampling bandit', () => {
  it('with arms of success rates 0.3 and 0.6, sends at least 90% of the last 1,000 of 5,000 trials to the better arm (seeded)', () => {
    const bandit = new BanditStrategy(['a', 'b'], {}, seededRandom(1));
    const coin = seededRandom(2);
    const rates: Record<string, number> = { a: 0.3, b: 0.6 };
    const chosen: string[] = [];
    for (let trial = 0; trial < 5000; trial++) {
      const { version } = bandit.route();
      chosen.push(version);
      bandit.report(version, coin() < rates[version]! ? 1 : 0);
    }
    expect(chosen.slice(-1000).filter((v) => v === 'b').length).toBeGreaterThanOrEqual(900);
  });

  it('starts from the counts it is given (persisted across reloads)', () => {
    const bandit = new BanditStrategy(
      ['a', 'b'],
      { a: { successes: 1, failures: 200 }, b: { successes: 150, failures: 50 } },
      seededRandom(3),
    );
    const picks = Array.from({ length: 200 }, () => bandit.route().version);
    expect(picks.filter((v) => v === 'b').length).toBeGreaterThan(195);
  });
});
