import type { LatencyStats, TimedRuns } from '../protocol.js';

export const now = (): number => performance.now();

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The smallest non-zero step of performance.now(): 5 µs when cross-origin isolated, 100 µs otherwise (Chromium). */
export function timerResolutionMs(): number {
  let smallest = Infinity;
  for (let i = 0; i < 20_000; i++) {
    const a = performance.now();
    let b = performance.now();
    while (b === a) b = performance.now();
    smallest = Math.min(smallest, b - a);
  }
  return smallest;
}

/**
 * `calls` sequential awaited calls after `warmup` untimed ones. The loop total gives the mean, which
 * is exact whatever the timer; per-call percentiles are kept only when the timer is fine enough
 * (isolated pages), since a 100 µs timer cannot time a 50 µs call.
 */
export async function timeSequential(
  calls: number,
  warmup: number,
  fine: boolean,
  call: (i: number) => Promise<unknown>,
): Promise<LatencyStats> {
  for (let i = 0; i < warmup; i++) await call(i);
  const samples = new Float64Array(calls);
  const start = now();
  for (let i = 0; i < calls; i++) {
    const t = now();
    await call(i);
    samples[i] = now() - t;
  }
  const totalMs = now() - start;
  const sorted = Array.from(samples).sort((a, b) => a - b);
  return {
    calls,
    warmup,
    totalMs,
    meanMs: totalMs / calls,
    p50Ms: fine ? percentile(sorted, 50) : null,
    p99Ms: fine ? percentile(sorted, 99) : null,
  };
}

/** A first run longer than this is kept as the only sample: warm-up effects are noise next to it, and repeating it would blow the run's time budget. */
const LONG_RUN_MS = 5_000;

/**
 * Before each timed repetition: a full collection of the page's heap (Chromium runs with
 * --expose-gc) and a short pause, so that no contestant is timed while the collector is still
 * busy with garbage an earlier one (or the untimed preparation) left behind.
 */
async function settle(): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  await new Promise((resolve) => setTimeout(resolve, 50));
}

/**
 * One untimed warm-up, then `repetitions` timed runs; `prepare` (untimed) builds each run's inputs.
 * A warm-up that takes longer than LONG_RUN_MS is itself the single sample.
 */
export async function timeRuns<T>(repetitions: number, prepare: () => T, run: (input: T) => Promise<unknown>): Promise<TimedRuns> {
  const first = prepare();
  const warmupStart = now();
  await run(first);
  const warmupMs = now() - warmupStart;
  if (warmupMs > LONG_RUN_MS) return { runsMs: [warmupMs], medianMs: warmupMs };
  const runsMs: number[] = [];
  for (let i = 0; i < repetitions; i++) {
    const input = prepare();
    await settle();
    const start = now();
    await run(input);
    runsMs.push(now() - start);
  }
  return { runsMs, medianMs: median(runsMs) };
}

/** Mean microseconds per call of a synchronous function, over `calls` calls after a warm-up. */
export function meanMicrosSync(calls: number, call: (i: number) => unknown): number {
  for (let i = 0; i < Math.min(calls, 200); i++) call(i);
  const start = now();
  for (let i = 0; i < calls; i++) call(i);
  return ((now() - start) / calls) * 1000;
}

/** The same for awaited calls, one after the other. */
export async function meanMicros(calls: number, call: (i: number) => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(calls, 200); i++) await call(i);
  const start = now();
  for (let i = 0; i < calls; i++) await call(i);
  return ((now() - start) / calls) * 1000;
}

export interface Contestant<T> {
  readonly id: string;
  readonly prepare: () => T;
  readonly run: (input: T) => Promise<unknown>;
}

/**
 * `timeRuns` for several contestants taken in turns: each warms up once, then every round times
 * each contestant once, so a slow spell of the machine falls on all of them, not on whichever ran
 * then (their ratios are the figures). A contestant whose warm-up took over LONG_RUN_MS keeps that
 * one sample and sits out the rounds.
 */
export async function timeInTurns(repetitions: number, contestants: readonly Contestant<unknown>[]): Promise<Map<string, TimedRuns>> {
  const runs = new Map<string, number[]>();
  const long = new Set<string>();
  for (const { id, prepare, run } of contestants) {
    const input = prepare();
    await settle();
    const start = now();
    await run(input);
    const ms = now() - start;
    if (ms > LONG_RUN_MS) {
      long.add(id);
      runs.set(id, [ms]);
    } else runs.set(id, []);
  }
  for (let i = 0; i < repetitions; i++) {
    for (const { id, prepare, run } of contestants) {
      if (long.has(id)) continue;
      const input = prepare();
      await settle();
      const start = now();
      await run(input);
      runs.get(id)!.push(now() - start);
    }
  }
  return new Map([...runs].map(([id, runsMs]) => [id, { runsMs, medianMs: median(runsMs) }]));
}
