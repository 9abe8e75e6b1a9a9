import { RolloutStrategy, type Route } from './strategy.js';

/** Everyone gets the live version. */
export class SingleStrategy extends RolloutStrategy {
  readonly name = 'single';

  constructor(private readonly live: string) {
    super();
  }

  versions(): readonly string[] {
    return [this.live];
  }

  route(): Route {
    return { version: this.live };
  }
}
