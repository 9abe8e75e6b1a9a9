import type { Prediction } from '../scoring/index.js';
import type { ShadowStats } from './protocol.js';

/** Outcomes are remembered for this many recent predictions. */
export const MAX_REMEMBERED = 100_000;

/**
 * Which version made each recent prediction, in a ring indexed by id: O(1) to remember a run of
 * consecutive ids and to forget; past the bound the oldest is overwritten.
 */
export class PredictionIds {
  readonly #versions = new Array<string | undefined>(MAX_REMEMBERED);
  #last = 0;

  /** Ids for `count` consecutive predictions by `version`; returns the first. */
  remember(version: string, count: number): number {
    const first = this.#last + 1;
    for (let id = first; id < first + count; id++) this.#versions[id % MAX_REMEMBERED] = version;
    this.#last += count;
    return first;
  }

  /** The version that made prediction `id`, once: its outcome counts once. Undefined if unknown or too old. */
  take(id: string): string | undefined {
    const n = typeof id === 'string' && /^[1-9][0-9]{0,15}$/.test(id) ? Number(id) : Number.NaN;
    if (!(n <= this.#last && n > this.#last - MAX_REMEMBERED)) return undefined;
    const version = this.#versions[n % MAX_REMEMBERED];
    this.#versions[n % MAX_REMEMBERED] = undefined;
    return version;
  }
}

/** How the shadow candidate compares with the live answers. */
export class ShadowRecorder {
  #comparisons = 0;
  #agreements = 0;
  #absoluteDifference = 0;
  #calls = 0;
  #ms = 0;

  record(live: readonly Prediction[], shadow: readonly Prediction[], ms: number): void {
    this.#calls++;
    this.#ms += ms;
    live.forEach((a, i) => {
      const b = shadow[i];
      if (b === undefined) return;
      this.#comparisons++;
      if (a.kind === 'classification' && b.kind === 'classification') {
        if (a.label === b.label) this.#agreements++;
        const classes = Object.keys(a.probabilities);
        this.#absoluteDifference +=
          classes.reduce((sum, c) => sum + Math.abs(a.probabilities[c]! - (b.probabilities[c] ?? 0)), 0) / classes.length;
      } else if (a.kind === 'regression' && b.kind === 'regression') {
        // Regression answers agree within 1% of the live value.
        if (Math.abs(a.value - b.value) <= 0.01 * Math.max(1, Math.abs(a.value))) this.#agreements++;
        this.#absoluteDifference += Math.abs(a.value - b.value);
      }
    });
  }

  stats(): ShadowStats {
    const n = this.#comparisons;
    return {
      comparisons: n,
      agreement: n === 0 ? 0 : this.#agreements / n,
      meanAbsoluteDifference: n === 0 ? 0 : this.#absoluteDifference / n,
      candidateMeanMs: this.#calls === 0 ? 0 : this.#ms / this.#calls,
    };
  }
}
