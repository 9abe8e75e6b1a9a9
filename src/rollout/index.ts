import type { ArmCounts } from './bandit.js';
import { BanditStrategy } from './bandit.js';
import { CanaryStrategy } from './canary.js';
import type { RolloutPolicy } from './policy.js';
import { ShadowStrategy } from './shadow.js';
import { SingleStrategy } from './single.js';
import type { RolloutStrategy } from './strategy.js';

export { parseRolloutPolicy } from './policy.js';
export type { RolloutPolicy, StrategyName } from './policy.js';
export { bucketOf, canaryBucket } from './bucket.js';
export { seededRandom, sampleBeta } from './random.js';
export { RolloutStrategy } from './strategy.js';
export type { Route } from './strategy.js';
export { SingleStrategy, CanaryStrategy, ShadowStrategy, BanditStrategy };
export type { ArmCounts };

export interface StrategyContext {
  readonly live: string;
  /** The user the canary buckets: the app's id, else this device's own. */
  readonly userId: string;
  /** Salts the bucket, so one user is not on every bundle's canary at once. */
  readonly bundle: string;
  readonly random: () => number;
  /** A bandit's counts so far (persisted across reloads). */
  readonly counts: ArmCounts;
}

export function createStrategy(policy: RolloutPolicy, context: StrategyContext): RolloutStrategy {
  switch (policy.strategy) {
    case 'single':
      return new SingleStrategy(context.live);
    case 'canary':
      return new CanaryStrategy(context.live, policy.candidate, policy.share, context.userId, context.bundle);
    case 'shadow':
      return new ShadowStrategy(context.live, policy.candidate, policy.sample, context.random);
    case 'bandit':
      return new BanditStrategy(policy.arms, context.counts, context.random);
  }
}
