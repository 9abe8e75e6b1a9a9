import { RolloutStrategy, type Route } from './strategy.js';

/** The live version answers; the candidate scores the same input afterwards, for comparison only. */
export class ShadowStrategy extends RolloutStrategy {
  readonly name = 'shadow';

  constructor(
    private readonly live: string,
    readonly candidate: string,
    private readonly sample: number,
    private readonly random: () => number,
  ) {
    super();
  }

  versions(): readonly string[] {
    return [this.live, this.candidate];
  }

  route(): Route {
    return this.random() < this.sample ? { version: this.live, shadow: this.candidate } : { version: this.live };
  }
}
