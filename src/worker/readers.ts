import { InputError } from '../errors/index.js';
import type { FeatureTransform, LentInput } from '../features/index.js';
import { refusedRows, type ScoredBatch, type Scorer } from '../scoring/index.js';
import type { AcquiredVersion } from './deployment.js';

/** Serving never reads the feature matrix: the model input goes into a reused buffer. */
export const SERVING = { keepFeatures: false } as const;

/** A batch scored, with the rows it left out (`each` answers only) and why. */
export interface Scored {
  readonly batch: ScoredBatch;
  /** Indices of the rows scored, when some were refused; undefined: all of them. */
  readonly kept?: readonly number[];
  readonly refused: ReadonlyMap<number, InputError>;
}

/**
 * How one form of input is read: validated, turned into the model input and scored by a version.
 * The service's pipeline is the same for every reader.
 */
export interface InputReader {
  /** Why the version cannot read this input (laid-out columns for other fields), or undefined. */
  unfit(scorer: Scorer): string | undefined;
  /** `each`: refused rows are set apart and the rest scored once; otherwise a refusal throws. */
  score(scorer: Scorer, each: boolean): Promise<Scored>;
  /** The same rows (those kept) scored by another version: the shadow's comparison. */
  rescore(scorer: Scorer, kept: readonly number[] | undefined): Promise<ScoredBatch>;
}

const NONE = new Map<number, InputError>();

/** Row objects (`predict`, `predictBatch`, micro-batches sent as rows). */
export function rowsReader(rows: unknown): InputReader {
  return {
    unfit: () => undefined,
    async score(scorer, each) {
      if (!each) return { batch: await scorer.score(rows, SERVING), refused: NONE };
      try {
        return { batch: await scorer.score(rows, SERVING), refused: NONE };
      } catch (error) {
        if (!(error instanceof InputError) || !Array.isArray(rows)) throw error;
        const refused = refusedRows(scorer.transform, rows);
        // A refusal of the batch as a whole (too many rows, say) that no row has alone is the call's.
        if (refused.size === 0) throw error;
        const kept = rows.map((_, r) => r).filter((r) => !refused.has(r));
        return {
          batch: await scorer.score(
            kept.map((r) => rows[r]),
            SERVING,
          ),
          kept,
          refused,
        };
      }
    },
    rescore: (scorer, kept) => scorer.score(kept === undefined ? rows : kept.map((r) => (rows as unknown[])[r]), SERVING),
  };
}

/**
 * Columns (`predictColumns`), or rows the client laid out as columns for the live version's fields
 * (`laidOut`): those fit a version only if it takes the same fields, and a refused row sends them
 * back as rows (`each`), where each call gets its own answer.
 */
export function columnsReader(columns: unknown, laidOut: boolean): InputReader {
  return {
    unfit: (scorer) =>
      laidOut && !fitsLaidOut(scorer.transform, columns) ? 'the columns were laid out for other fields than this version takes' : undefined,
    async score(scorer, each) {
      try {
        return { batch: await scorer.scoreColumns(columns, SERVING), refused: NONE };
      } catch (error) {
        if (each && error instanceof InputError) throw new Refit('a row of the micro-batch is refused: its calls are answered one by one');
        throw error;
      }
    },
    rescore: (scorer) => scorer.scoreColumns(columns, SERVING),
  };
}

/** Thrown by a reader whose input the version cannot read as it is: the client sends rows instead. */
export class Refit extends Error {}

/** A large `predictBatch` sent in parts, each written into the model input as it came (`openParts`, `addPart`). */
export interface OpenBatch {
  readonly acquired: AcquiredVersion;
  readonly lent: LentInput;
  /** The raw values of every row, filled part by part (drift monitoring reads rows anywhere in it). */
  readonly raw: { readonly numbers: Map<string, Float64Array>; readonly categories: Map<string, Int32Array> };
  filled: number;
  /** Set once a part does not fit this version (`unfit`) or has a refused value (its error). */
  outcome?: 'unfit' | InputError;
}

export function partsReader(batch: OpenBatch): InputReader {
  return {
    unfit: () => (batch.outcome === 'unfit' ? 'a part did not fit the version the batch was opened on' : undefined),
    async score(scorer) {
      if (batch.outcome instanceof InputError) throw batch.outcome;
      const { lent } = batch;
      if (batch.filled !== lent.rows)
        throw new InputError('INVALID_BATCH', `the parts hold ${batch.filled} of the batch's ${lent.rows} rows`, {});
      return { batch: await scorer.scoreLent(lent, batch.raw), refused: NONE };
    },
    // Opened only where no shadow runs: nothing rescored.
    rescore: () => Promise.reject(new Error('a batch sent in parts is not shadowed')),
  };
}

/**
 * Whether columns laid out on the main thread for the live version's fields fit the version a call
 * is routed to: the same fields, numbers as Float64Array, categories dictionary-encoded. Only their
 * shape is looked at here; the values are validated as any input is.
 */
export function fitsLaidOut(transform: FeatureTransform, columns: unknown): boolean {
  if (transform.spec.kind !== 'tabular' || typeof columns !== 'object' || columns === null) return false;
  const record = columns as Record<string, unknown>;
  if (Object.keys(record).length !== transform.inputs.length) return false;
  return transform.inputs.every((field) => {
    if (!Object.hasOwn(record, field.name)) return false;
    const column = record[field.name];
    if (field.type === 'number') return column instanceof Float64Array;
    return (
      field.type === 'category' && typeof column === 'object' && column !== null && !Array.isArray(column) && !ArrayBuffer.isView(column)
    );
  });
}
