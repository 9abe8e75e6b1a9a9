import type { StrategyName } from './policy.js';

/** What a strategy decides for one call: who answers, and who scores the same input in its shadow. */
export interface Route {
  readonly version: string;
  readonly shadow?: string;
}

/** One strategy per file over this base (the Workbox habit): routing is all a strategy does. */
export abstract class RolloutStrategy {
  abstract readonly name: StrategyName;

  /** The versions this strategy may send calls to: each must be installed and gated to serve. */
  abstract versions(): readonly string[];

  abstract route(): Route;

  /** A reward the app reported for a prediction a version made (bandits learn from it). */
  report(_version: string, _reward: number): void {}
}
