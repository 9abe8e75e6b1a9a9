import { sampleBeta } from './random.js';
import { RolloutStrategy, type Route } from './strategy.js';

/** Successes and failures seen per arm; with a Beta(1, 1) prior they are the posterior's parameters. */
export type ArmCounts = Record<string, { readonly successes: number; readonly failures: number }>;

/**
 * Thompson sampling: each call draws a success rate for every arm from its Beta posterior and goes
 * to the best draw. Chosen over UCB because it needs no tuning constant, handles delayed and
 * missing rewards gracefully (an arm without news keeps its wide posterior), and is known to
 * converge at least as fast on Bernoulli rewards.
 */
export class BanditStrategy extends RolloutStrategy {
  readonly name = 'bandit';
  readonly #counts: Map<string, { successes: number; failures: number }>;

  constructor(
    readonly arms: readonly string[],
    counts: ArmCounts,
    private readonly random: () => number,
  ) {
    super();
    this.#counts = new Map(arms.map((arm) => [arm, { successes: counts[arm]?.successes ?? 0, failures: counts[arm]?.failures ?? 0 }]));
  }

  versions(): readonly string[] {
    return this.arms;
  }

  route(): Route {
    let best = this.arms[0]!;
    let bestDraw = -1;
    for (const [arm, { successes, failures }] of this.#counts) {
      const draw = sampleBeta(successes + 1, failures + 1, this.random);
      if (draw > bestDraw) {
        bestDraw = draw;
        best = arm;
      }
    }
    return { version: best };
  }

  /** A reward in [0, 1]: 1 a success, 0 a failure, in between a partial success. */
  override report(version: string, reward: number): void {
    const arm = this.#counts.get(version);
    if (arm === undefined) return;
    const r = Math.min(1, Math.max(0, reward));
    arm.successes += r;
    arm.failures += 1 - r;
  }

  counts(): ArmCounts {
    return Object.fromEntries(this.#counts);
  }
}
