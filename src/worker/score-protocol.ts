import type { InputError, SerializedError } from '../errors/index.js';
import type { ColumnarReply, Prediction, TypedAnswers } from '../scoring/index.js';

/**
 * The scoring messages between the client and the service. Every way in — one row, rows, columns,
 * columns in parts, a micro-batch — is one `ScoreRequest`, told apart by its `input` (which reader
 * the service uses) and its `answer` (how the reply is shaped); one pipeline serves them all.
 */
export type ScoreRequest =
  /** Row objects: `predict(row)` (one row), `predictBatch(rows)`, micro-batched calls. */
  | { readonly input: 'rows'; readonly rows: unknown; readonly answer: Answer }
  /**
   * Columns: `predictColumns`, or rows the client laid out as columns for the live version's fields
   * (`laidOut`: when the version routed to takes other fields, the reply is `refit`).
   */
  | { readonly input: 'columns'; readonly columns: unknown; readonly answer: Answer; readonly laidOut?: boolean }
  /** A batch sent in parts (`openParts`, `addPart`), complete: scored as one. */
  | { readonly input: 'parts'; readonly batch: number; readonly answer: 'typed' };

/**
 * - `typed`: every row's answer as typed arrays (the client makes the `Prediction` objects); a
 *   refused row fails the whole call, naming the row.
 * - `each`: the same per call of a micro-batch: a refused row gets its own error, the rest are
 *   scored (once).
 * - `columnar`: `predictColumns`' reply (typed arrays out, labels as class indices).
 */
export type Answer = 'typed' | 'each' | 'columnar';

/** Answers of consecutive predictions by one version: row r has id `firstId + r`. */
export interface Answered {
  readonly version: string;
  readonly firstId: number;
  readonly answers: TypedAnswers;
}

export type ScoreReply =
  | ({ readonly kind: 'typed' } & Answered)
  /** Each group's rows (indices into the request's rows) were answered by its version; `refused` rows by their own error. */
  | {
      readonly kind: 'each';
      readonly groups: readonly (Answered & { readonly rows: readonly number[] })[];
      readonly refused: readonly RefusedRow[];
    }
  | { readonly kind: 'columnar'; readonly version: string; readonly firstId: number; readonly reply: ColumnarReply }
  /** The columns were laid out for fields the version routed to does not take (an update changed them): send rows. */
  | { readonly kind: 'refit'; readonly reason: string };

export interface RefusedRow {
  readonly row: number;
  /** As the row's own call sees it: row 0. */
  readonly error: SerializedError;
}

/** One row's outcome (`predictEach`, and each call of a micro-batch): its prediction or its own error, as the class it is. */
export type RowResult = { readonly ok: true; readonly prediction: Prediction } | { readonly ok: false; readonly error: InputError };
