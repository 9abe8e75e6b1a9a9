import { canaryBucket } from './bucket.js';
import { RolloutStrategy, type Route } from './strategy.js';

/** A stable share of users gets the candidate: this user's bucket decides, the same on every load. */
export class CanaryStrategy extends RolloutStrategy {
  readonly name = 'canary';
  /** This user's place in [0, 1). */
  readonly bucket: number;
  readonly assigned: string;

  constructor(
    live: string,
    readonly candidate: string,
    readonly share: number,
    userId: string,
    salt: string,
  ) {
    super();
    this.bucket = canaryBucket(userId, salt);
    this.assigned = this.bucket < share ? candidate : live;
  }

  versions(): readonly string[] {
    return [this.assigned];
  }

  route(): Route {
    return { version: this.assigned };
  }
}
