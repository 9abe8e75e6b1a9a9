// The shape of bench/results/<timestamp>.json (and latest.json): every raw number of one run.
import type { BatchFigure, Breakdown, ConcurrentFigure, LatencyFigure, ModelSetup, PageEnvironment, StartResult } from './protocol.js';
import type { CliFigures } from './cli/score-bench.js';
import type { SizeReport } from './sizes.js';

export interface RequestSummary {
  readonly path: string;
  readonly status: number;
  readonly wireBytes: number;
  readonly encoding: 'gzip' | 'identity';
}

/** One start (cold or warm) with what reached the server meanwhile. */
export interface StartPhase extends StartResult {
  /** Requests that reached the server between the call and its answer (plus a settle time, see notes). */
  readonly requests: readonly RequestSummary[];
  readonly wireBytes: number;
  /** Requests for bundle files (`bundles/...`) among them. */
  readonly bundleRequests: number;
  /** URLs the browser asked for (Playwright request events, workers included), served from cache or not. */
  readonly browserRequests: readonly string[];
}

export interface ModelResults {
  readonly setup: ModelSetup;
  readonly latency?: LatencyFigure;
  readonly concurrent?: ConcurrentFigure;
  readonly batch?: BatchFigure;
  readonly breakdown?: Breakdown;
}

export interface StartResults {
  readonly ondevice: { readonly cold: StartPhase; readonly warm: StartPhase; readonly warmWithUpdateCheck: StartPhase };
  readonly ortMain?: { readonly cold: StartPhase; readonly warm: StartPhase };
}

export interface BenchResults {
  readonly format: 'ondevice-bench';
  readonly formatVersion: 1;
  readonly startedAt: string;
  readonly durationS: number;
  readonly environment: {
    readonly chromium: string;
    readonly node: string;
    readonly platform: string;
    readonly cpuModel: string;
    readonly cpus: number;
    readonly memoryBytes: number;
    /** 1-minute load average when the run started and ended: other work on the machine skews every figure. */
    readonly loadAverage: { readonly start: number; readonly end: number };
    readonly gitCommit: string | null;
    /** Whether the working tree had changes (the library is measured as it is on disk). */
    readonly gitDirty: boolean | null;
    readonly packages: Readonly<Record<string, string>>;
    /** The isolated page (COOP/COEP): every figure but `notIsolated`. */
    readonly page: PageEnvironment;
    readonly pageNotIsolated?: PageEnvironment;
  };
  readonly parameters: {
    readonly latencyCalls: number;
    readonly latencyWarmup: number;
    readonly concurrentCalls: number;
    readonly concurrentRepetitions: number;
    readonly batchRows: number;
    readonly batchRepetitions: number;
    readonly breakdownCalls: number;
  };
  readonly network: {
    readonly downloadBitsPerSecond: number;
    readonly uploadBitsPerSecond: number;
    readonly latencyMs: number;
    readonly method: string;
    /** A 1 MB file fetched (no-store) by the page and by a dedicated worker, throttled and not. */
    readonly check: {
      readonly url: string;
      readonly bytes: number;
      readonly expectedThrottledMs: number;
      readonly unthrottled: { readonly pageMs: number; readonly workerMs: number };
      readonly throttled: { readonly pageMs: number; readonly workerMs: number };
    };
  };
  readonly models: Readonly<Record<string, ModelResults>>;
  readonly starts: Readonly<Record<string, StartResults>>;
  readonly notIsolated?: Readonly<Record<string, ModelResults>>;
  readonly sizes: SizeReport;
  /** `ondevice score` and pandas + scikit-learn on the same CSV file (absent in runs before it was measured). */
  readonly cli?: CliFigures;
  /** Console errors and page errors seen during the run (should be empty). */
  readonly pageErrors: readonly string[];
}
