import { BundleError } from '../errors/index.js';
import { isRecord, readArray, readLiteral, readNumber, readString, type Fail } from '../util/json.js';

/**
 * How a channel rolls its versions out (Burkov, Machine Learning Engineering, 8.4):
 * - `single`: everyone gets the live version.
 * - `canary`: a stable `share` of users gets `candidate`; the rest the live version.
 * - `shadow`: everyone gets the live answer; `candidate` scores the same inputs afterwards and the
 *   pair is compared (a `sample` of calls, default all).
 * - `bandit`: Thompson sampling between `arms` (versions), on rewards the app reports.
 */
export type RolloutPolicy =
  | { readonly strategy: 'single' }
  | { readonly strategy: 'canary'; readonly candidate: string; readonly share: number }
  | { readonly strategy: 'shadow'; readonly candidate: string; readonly sample: number }
  | { readonly strategy: 'bandit'; readonly arms: readonly string[] };

export type StrategyName = RolloutPolicy['strategy'];

/** Reads a channel's `rollout`; `versions` are those the channel offers (live and candidates). */
export function parseRolloutPolicy(value: unknown, live: string, versions: readonly string[]): RolloutPolicy {
  const fail: Fail = (path, why) => {
    throw new BundleError('INVALID_CHANNEL', `channel: rollout${path === '(root)' ? '' : `.${path}`} ${why}`, { path: `rollout.${path}` });
  };
  if (value === undefined || value === null) return { strategy: 'single' };
  if (!isRecord(value)) fail('(root)', 'must be an object');
  const policy = value as Record<string, unknown>;
  const strategy = readLiteral(policy.strategy, ['single', 'canary', 'shadow', 'bandit'] as const, 'strategy', fail);
  const offered = (path: string, version: string): string => {
    if (!versions.includes(version)) fail(path, `names ${version}, which the channel does not offer (it offers ${versions.join(', ')})`);
    return version;
  };
  switch (strategy) {
    case 'single':
      return { strategy };
    case 'canary': {
      const candidate = offered('candidate', readString(policy.candidate, 'candidate', fail));
      if (candidate === live) fail('candidate', 'must differ from the live version');
      const share = readNumber(policy.share, 'share', fail);
      if (share < 0 || share > 1) fail('share', `must be between 0 and 1, got ${share}`);
      return { strategy, candidate, share };
    }
    case 'shadow': {
      const candidate = offered('candidate', readString(policy.candidate, 'candidate', fail));
      if (candidate === live) fail('candidate', 'must differ from the live version');
      const sample = policy.sample === undefined ? 1 : readNumber(policy.sample, 'sample', fail);
      if (sample < 0 || sample > 1) fail('sample', `must be between 0 and 1, got ${sample}`);
      return { strategy, candidate, sample };
    }
    case 'bandit': {
      const arms = readArray(policy.arms, 'arms', fail).map((arm, i) => offered(`arms[${i}]`, readString(arm, `arms[${i}]`, fail)));
      if (arms.length < 2 || new Set(arms).size !== arms.length) fail('arms', 'must name at least two different versions');
      return { strategy, arms };
    }
  }
}
