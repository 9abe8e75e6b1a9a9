// How one fuzz case ended, judged against what should have happened: an answer for input that is
// fine, a typed error (an OndeviceError with a known code) for input that is not, and never a wait
// past its bound.
import {
  BUNDLE_ERROR_CODES,
  GATE_ERROR_CODES,
  INPUT_ERROR_CODES,
  OndeviceError,
  SCORING_ERROR_CODES,
  STATE_ERROR_CODES,
} from '../../src/errors/index.js';

const KNOWN_CODES: ReadonlySet<string> = new Set([
  ...INPUT_ERROR_CODES,
  ...BUNDLE_ERROR_CODES,
  ...GATE_ERROR_CODES,
  ...SCORING_ERROR_CODES,
  ...STATE_ERROR_CODES,
]);

export type Verdict = 'correct' | 'wrongly accepted' | 'wrongly refused' | 'untyped' | 'hung';

export interface Outcome {
  readonly verdict: Verdict;
  readonly detail: string;
}

export const CORRECT: Outcome = { verdict: 'correct', detail: '' };

/** What a call did: resolved, rejected, or was still waiting after `ms`. */
export type Settled<T> = { readonly value: T } | { readonly error: unknown } | { readonly hung: number };

export async function settle<T>(ms: number, run: () => Promise<T>): Promise<Settled<T>> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<Settled<T>>((resolve) => (timer = setTimeout(() => resolve({ hung: ms }), ms)));
  try {
    return await Promise.race([
      run().then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
      hung,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** An OndeviceError whose code is one the library documents. */
export function isTyped(error: unknown): error is OndeviceError {
  return error instanceof OndeviceError && KNOWN_CODES.has(error.code);
}

export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}${'code' in error ? ` ${String(error.code)}` : ''}: ${error.message.slice(0, 160)}`;
  return String(error).slice(0, 160);
}

/**
 * The verdict for input that must be refused: a typed error that `fits` (e.g. names the right
 * field) is correct; an answer is wrongly accepted.
 */
export function refused<T>(settled: Settled<T>, fits: (error: OndeviceError) => string | undefined = () => undefined): Outcome {
  if ('hung' in settled) return { verdict: 'hung', detail: `no answer within ${settled.hung} ms` };
  if ('value' in settled) return { verdict: 'wrongly accepted', detail: 'answered' };
  if (!isTyped(settled.error)) return { verdict: 'untyped', detail: describeError(settled.error) };
  const misfit = fits(settled.error);
  return misfit === undefined ? CORRECT : { verdict: 'untyped', detail: `${describeError(settled.error)}: ${misfit}` };
}

/** The verdict for input that must be answered: `check` says what is wrong with the answer, if anything. */
export function answered<T>(settled: Settled<T>, check: (value: T) => string | undefined = () => undefined): Outcome {
  if ('hung' in settled) return { verdict: 'hung', detail: `no answer within ${settled.hung} ms` };
  if ('error' in settled) {
    return isTyped(settled.error)
      ? { verdict: 'wrongly refused', detail: describeError(settled.error) }
      : { verdict: 'untyped', detail: describeError(settled.error) };
  }
  const wrong = check(settled.value);
  return wrong === undefined ? CORRECT : { verdict: 'wrongly accepted', detail: wrong };
}

/** Either outcome is fine, as long as it is an answer or a typed error in time. */
export function answeredOrRefused<T>(settled: Settled<T>): Outcome {
  return 'value' in settled ? CORRECT : refused(settled);
}

/** The first outcome that is not correct, or correct. */
export function worst(outcomes: readonly Outcome[]): Outcome {
  return outcomes.find((outcome) => outcome.verdict !== 'correct') ?? CORRECT;
}
