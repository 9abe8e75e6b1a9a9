import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { InputError, describeUnknown } from '../errors/index.js';
import type { InputField } from '../features/index.js';
import { load } from '../node/index.js';
import type { ColumnarPrediction, Prediction } from '../scoring/index.js';
import type { ColumnarInput, ModelInfo, OndeviceModel } from '../worker/protocol.js';
import { parseCommandArgs, readInteger, UsageError, type Command } from './command.js';
import { CliError } from './errors.js';
import { shown } from './files.js';
import { ColumnBuilder, type FieldColumn } from './csv-columns.js';
import { cellText, csvCell, readCsv, splitRecords, type CsvCells, type CsvChunk, type CsvProblem, type CsvRecord } from './csv.js';
import { bytes, count, num, plural } from './format.js';

export type OnError = 'stop' | 'skip';

export interface ScoreOptions {
  /** A bundle folder (`<bundles>/<name>/`) or its channel.json. */
  readonly bundle: string;
  readonly input: string;
  /** Output CSV path; without it, the CSV goes to `stdout`. */
  readonly output?: string;
  readonly stdout?: Writable;
  /** Default: the live version. */
  readonly version?: string;
  /** Rows per model run at most (the first runs are smaller, so scoring starts early). Default `DEFAULT_BATCH_ROWS`. */
  readonly batchRows?: number;
  /** `stop` (default): the first bad row ends the run with its error; `skip`: it is reported and left out. */
  readonly onError?: OnError;
  /** Cell texts that mean a missing value, in every column. Default: pandas' (`DEFAULT_NA`). */
  readonly na?: readonly string[];
  /** Told when a missing-value marker is also a level a category field knows (that level can then never be sent). */
  readonly onWarning?: (message: string) => void;
  readonly onProgress?: (progress: ScoreProgress) => void;
  readonly onSkip?: (skipped: SkippedRow) => void;
  /** Called once the model is verified, gated and ready, before reading the CSV. */
  readonly onReady?: (ready: {
    readonly name: string;
    readonly version: string;
    readonly gateMs: number;
    readonly runtimeMs: number;
  }) => void;
}

export interface ScoreProgress {
  /** Data rows read (the header excluded), scored and skipped so far. */
  readonly rows: number;
  readonly scored: number;
  readonly skipped: number;
  readonly bytesRead: number;
  readonly totalBytes: number;
  readonly elapsedMs: number;
}

export interface SkippedRow {
  /** 1-based data row (the header is not counted); undefined for a line the CSV parser could not read as a record. */
  readonly row: number | undefined;
  readonly line: number;
  readonly message: string;
  readonly code: string;
}

export interface ScoreSummary extends ScoreProgress {
  readonly name: string;
  readonly version: string;
  readonly output: string | undefined;
  /** Columns added after the input's. */
  readonly predictionColumns: readonly string[];
  readonly rowsPerSecond: number;
}

export const DEFAULT_BATCH_ROWS = 8192;
const FIRST_BATCH_ROWS = 1024;
/**
 * V8 optimizes a WebAssembly function once it has run about this many bytes of code. Its default
 * (1.8 MB) has it optimize onnxruntime's one-off start-up code too: about a second of compiling on
 * another core just as scoring starts, which on a 2-core machine took a fifth of the scoring time.
 * Raised, only the functions the model runs over and over are optimized.
 */
const WASM_TIERING_BUDGET = 100_000_000;
/**
 * What `pandas.read_csv` reads as missing by default: a training script that read its data with
 * pandas saw these cells as NaN, in every column, so scoring reads them as missing too.
 */
export const DEFAULT_NA: readonly string[] = [
  '',
  '#N/A',
  '#N/A N/A',
  '#NA',
  '-1.#IND',
  '-1.#QNAN',
  '-NaN',
  '-nan',
  '1.#IND',
  '1.#QNAN',
  '<NA>',
  'N/A',
  'NA',
  'NULL',
  'NaN',
  'None',
  'n/a',
  'nan',
  'null',
];
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INFINITE = /^[+-]?inf(inity)?$/i;

/**
 * Batch scoring of a CSV file with the browser's own loader and scorer (ondevice/node): the version
 * is verified and gated first, then the file is streamed (never read whole), the cells the model
 * reads laid out as typed columns, and scored `batchRows` at a time. Each output line is the input
 * line as it was, then the predictions.
 */
export async function scoreCsv(options: ScoreOptions): Promise<ScoreSummary> {
  const input = resolve(options.input);
  const output = options.output === undefined ? undefined : resolve(options.output);
  if (output === input) throw new UsageError('--out is the input file; write the predictions to another file');
  const totalBytes = await stat(input).then(
    (s) => s.size,
    (error: unknown) => {
      throw new CliError('FILE_NOT_FOUND', `cannot read ${shown(input)}: ${describeUnknown(error)}`, { path: shown(input) });
    },
  );
  if (options.batchRows !== undefined && options.batchRows < 1) throw new UsageError('--batch must be at least 1');
  let model: OndeviceModel | undefined;
  const target = new OutputTarget(output, options.stdout ?? process.stdout);
  // When Node's event loop runs out of work it waits for V8's background tasks to end: after the
  // first model runs that is the optimizing compile of onnxruntime's WASM, which held the first
  // second of scoring still. A handle held for the run keeps the loop from running out.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  setFlagsFromString(`--wasm-tiering-budget=${WASM_TIERING_BUDGET}`);
  try {
    // The same loader, checks and gate as a browser's (ondevice/node): no drift, no shards, no updates.
    model = await load(options.bundle, {
      ...(options.version === undefined ? {} : { version: options.version }),
      thread: 'worker',
      monitor: false,
      shards: 0,
      batching: false,
      checkForUpdates: false,
    });
    const info = await model.info();
    const fields = tabularFields(info);
    const na = new Set(options.na ?? DEFAULT_NA);
    warnAboutLevels(fields, na, options.onWarning);
    options.onReady?.({ name: info.name, version: info.version, runtimeMs: info.timings.runtimeMs, gateMs: info.timings.gateMs });
    const run = new ScoreRun({
      ...options,
      input,
      model,
      info,
      fields,
      na,
      totalBytes,
      target,
      batchRows: options.batchRows ?? DEFAULT_BATCH_ROWS,
    });
    const summary = await run.stream();
    await target.commit();
    return { ...summary, name: info.name, version: info.version, output };
  } catch (error) {
    await target.discard();
    throw error;
  } finally {
    clearInterval(keepAlive);
    await model?.dispose();
  }
}

/** Where the output goes: stdout, or a file written whole (a temporary file renamed into place) or not at all. */
class OutputTarget {
  readonly #output: string | undefined;
  readonly #temporary: string | undefined;
  readonly #stdout: Writable;
  #sink: Writable | undefined;

  constructor(output: string | undefined, stdout: Writable) {
    this.#output = output;
    this.#stdout = stdout;
    this.#temporary = output === undefined ? undefined : `${output}.${randomBytes(6).toString('hex')}.tmp`;
  }

  async write(chunk: string | Buffer): Promise<void> {
    // A batch's lines fit in the stream's buffer: the next batch is scored while they are written.
    this.#sink ??= this.#temporary === undefined ? this.#stdout : createWriteStream(this.#temporary, { highWaterMark: 16 << 20 });
    if (!this.#sink.write(chunk)) await once(this.#sink, 'drain');
  }

  async commit(): Promise<void> {
    if (this.#temporary === undefined) return;
    if (this.#sink === undefined) await this.write('');
    await closeStream(this.#sink!);
    await rename(this.#temporary, this.#output!);
  }

  async discard(): Promise<void> {
    if (this.#temporary === undefined) return;
    if (this.#sink !== undefined) {
      // A write still in flight fails once the stream is destroyed: that is expected, not a crash.
      this.#sink.on('error', () => undefined);
      this.#sink.destroy();
      await once(this.#sink, 'close').catch(() => undefined);
    }
    await rm(this.#temporary, { force: true });
  }
}

interface RunContext extends Omit<ScoreOptions, 'na'> {
  readonly input: string;
  readonly model: OndeviceModel;
  readonly info: ModelInfo;
  readonly fields: readonly InputField[];
  readonly na: ReadonlySet<string>;
  readonly totalBytes: number;
  readonly target: OutputTarget;
  readonly batchRows: number;
}

/**
 * The records waiting to be scored, as parallel arrays (no object per row): where each is in the
 * file, and its bytes (copied to the output as they are) in one of the chunks it keeps.
 */
class BatchRecords {
  readonly rows: Int32Array;
  readonly lines: Int32Array;
  readonly starts: Int32Array;
  readonly ends: Int32Array;
  /** Index into `chunks` of each record's bytes. */
  readonly chunkOf: Int32Array;
  readonly chunks: Buffer[] = [];
  length = 0;

  constructor(capacity: number) {
    this.rows = new Int32Array(capacity);
    this.lines = new Int32Array(capacity);
    this.starts = new Int32Array(capacity);
    this.ends = new Int32Array(capacity);
    this.chunkOf = new Int32Array(capacity);
  }

  push(row: number, line: number, bytes: Buffer, start: number, end: number): void {
    if (this.chunks[this.chunks.length - 1] !== bytes) this.chunks.push(bytes);
    const i = this.length++;
    this.rows[i] = row;
    this.lines[i] = line;
    this.starts[i] = start;
    this.ends[i] = end;
    this.chunkOf[i] = this.chunks.length - 1;
  }

  /** Record i's line, as it is in the file. */
  bytesOf(i: number): Buffer {
    return this.chunks[this.chunkOf[i]!]!.subarray(this.starts[i], this.ends[i]);
  }
}

/** A batch's prediction cells per record (undefined: left out), and the rows it left out. */
interface ScoredBatch {
  readonly answers: readonly (string | undefined)[];
  readonly skipped: readonly SkippedRow[];
}

/** One pass over the file: header, then records in batches, each scored once and written in order. */
class ScoreRun {
  readonly #context: RunContext;
  readonly #started = performance.now();
  readonly #counts = { rows: 0, scored: 0, skipped: 0, bytesRead: 0 };
  #builder: ColumnBuilder | undefined;
  #header: HeaderLayout | undefined;
  #batch: BatchRecords;
  /**
   * Rows in the batch being read: small at first, doubling up to `batchRows`, so the worker starts
   * scoring (and its code warms up) while this thread reads on, instead of idling through the first batch.
   */
  #batchLimit: number;
  /** The batches sent for scoring, written in order as their answers come. */
  #writing: Promise<void> = Promise.resolve();

  constructor(context: RunContext) {
    this.#context = context;
    this.#batch = new BatchRecords(context.batchRows);
    this.#batchLimit = Math.min(context.batchRows, FIRST_BATCH_ROWS);
  }

  async stream(): Promise<Omit<ScoreSummary, 'name' | 'version' | 'output'>> {
    for await (const chunk of readCsv(this.#context.input)) {
      const { records } = chunk;
      for (let i = 0; i < records.length; i++) {
        // Most records need no wait: an await each would cost a turn of the microtask queue per row.
        const waiting = this.#take(chunk, i);
        if (waiting !== undefined) await waiting;
      }
      this.#counts.bytesRead = Math.min(this.#context.totalBytes, this.#counts.bytesRead + chunk.bytes.length);
    }
    if (this.#header === undefined)
      throw new CliError('INVALID_CSV', `${shown(this.#context.input)} is empty: it needs a header line naming the columns`, {
        path: shown(this.#context.input),
      });
    await this.#flush();
    await this.#writing;
    const elapsedMs = performance.now() - this.#started;
    const { rows, scored, skipped } = this.#counts;
    const totalBytes = this.#context.totalBytes;
    return {
      rows,
      scored,
      skipped,
      bytesRead: totalBytes,
      totalBytes,
      elapsedMs,
      predictionColumns: this.#header.predictionColumns,
      rowsPerSecond: rows / Math.max(elapsedMs / 1000, 1e-9),
    };
  }

  /** Takes record i of the chunk into the batch; a promise when it has to wait (a full batch, a malformed record, the header). */
  #take({ bytes, cells, records }: CsvChunk, i: number): Promise<void> | undefined {
    const count = records.counts[i]!;
    const line = records.lines[i]!;
    if (count < 0) return this.#malformed({ line, message: records.problems.get(i)! });
    if (this.#header === undefined) return this.#readHeader(bytes, cells, records.at(i));
    if (count !== this.#header.columns)
      return this.#malformed({ line, message: `the record has ${count} cells; the header names ${this.#header.columns} columns` });
    const row = ++this.#counts.rows;
    this.#batch.push(row, line, bytes, records.starts[i]!, records.ends[i]!);
    this.#builder!.add(bytes, cells, records.firsts[i]!);
    return this.#batch.length >= this.#batchLimit ? this.#flush() : undefined;
  }

  async #readHeader(bytes: Buffer, cells: CsvCells, record: CsvRecord): Promise<void> {
    const names = Array.from({ length: record.count }, (_, i) => cellText(bytes, cells, record.first + i));
    this.#header = headerLayout(names, this.#context.fields, this.#context.info, this.#context.input);
    this.#builder = new ColumnBuilder(this.#header.fieldColumns, this.#context.na, this.#context.batchRows);
    await this.#context.target.write(
      Buffer.concat([bytes.subarray(record.start, record.end), Buffer.from(`,${this.#header.predictionColumns.map(csvCell).join(',')}\n`)]),
    );
  }

  async #malformed(problem: CsvProblem): Promise<void> {
    const { input, onError } = this.#context;
    // The rows before it are scored (and their problems reported) first: reports follow the file.
    await this.#flush();
    await this.#writing;
    if (this.#header === undefined || onError !== 'skip')
      throw new CliError('INVALID_CSV', `${shown(input)}: line ${problem.line}: ${problem.message}`, {
        path: shown(input),
        line: problem.line,
      });
    this.#skip({ row: undefined, line: problem.line, message: `line ${problem.line}: ${problem.message}`, code: 'INVALID_CSV' });
  }

  #skip(row: SkippedRow): void {
    this.#counts.skipped++;
    this.#context.onSkip?.(row);
  }

  /**
   * Sends the batch to be scored (one run) and queues its lines for writing, each input line then
   * its predictions. The model scores it in its worker thread while this thread reads the next;
   * at most one batch waits, so memory stays at two batches.
   */
  async #flush(): Promise<void> {
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = new BatchRecords(this.#context.batchRows);
    this.#batchLimit = Math.min(this.#context.batchRows, this.#batchLimit * 2);
    const builder = this.#builder!;
    const irregular = builder.irregular;
    const columns = builder.take();
    const scoring = irregular ? this.#scoreRows(batch) : this.#scoreColumns(batch, columns);
    // Awaited below, in order; a failure is not left unhandled meanwhile.
    scoring.catch(() => undefined);
    const previous = this.#writing;
    this.#writing = previous.then(async () => {
      const { answers, skipped } = await scoring;
      // Reported here, in the file's order: a later batch may be scored before an earlier one is.
      for (const row of skipped) this.#skip(row);
      await this.#context.target.write(outputLines(batch, answers));
      this.#counts.scored += answers.reduce((scored, cells) => scored + (cells === undefined ? 0 : 1), 0);
      this.#context.onProgress?.(this.#progress());
    });
    await previous;
  }

  /** The fast path: typed columns, one model run. A refused row sends the batch down the row path, where each row is named. */
  async #scoreColumns(batch: BatchRecords, columns: ColumnarInput): Promise<ScoredBatch> {
    try {
      const predicted = await this.#context.model.predictColumns(columns);
      return { answers: Array.from({ length: batch.length }, (_, r) => predictionCellsAt(predicted, r)), skipped: [] };
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      return this.#scoreRows(batch);
    }
  }

  /** Row objects, as the cells read: a refused row stops the run (`stop`) or is reported and left out (`skip`). */
  async #scoreRows(batch: BatchRecords): Promise<ScoredBatch> {
    const toRow = this.#header!.toRow;
    const rows = Array.from({ length: batch.length }, (_, r) => {
      // The chunk's cell list has moved on: the line is split again (the slow path is rare).
      const line = batch.bytesOf(r);
      const again = splitRecords(line, batch.lines[r]!, true);
      return again.records.length === 1 && again.records.counts[0]! >= 0
        ? toRow(line, again.cells, again.records.firsts[0]!, this.#context.na)
        : {};
    });
    const place = (r: number): PlaceInFile => ({ row: batch.rows[r]!, line: batch.lines[r]! });
    const skipped: SkippedRow[] = [];
    const { kept, predictions } = await scoreBatch(this.#context.model, place, rows, this.#context.onError ?? 'stop', (row) =>
      skipped.push(row),
    );
    const classes = this.#context.info.task.kind === 'classification' ? this.#context.info.task.classes : [];
    const cells = new Map(kept.map((r, k) => [r, predictionCells(predictions[k]!, classes).map(csvCell).join(',')]));
    return { answers: Array.from({ length: batch.length }, (_, r) => cells.get(r)), skipped };
  }

  #progress(): ScoreProgress {
    const { rows, scored, skipped, bytesRead } = this.#counts;
    return { rows, scored, skipped, bytesRead, totalBytes: this.#context.totalBytes, elapsedMs: performance.now() - this.#started };
  }
}

/**
 * Scores a batch of row objects in one model run (`place` says where row i is in the file). `stop`: the first bad row ends the run, named by
 * its row and line in the file. `skip`: every bad row is reported and left out, found in one pass
 * (`predictEach`).
 */
interface PlaceInFile {
  readonly row: number;
  readonly line: number;
}

async function scoreBatch(
  model: OndeviceModel,
  place: (index: number) => PlaceInFile,
  rows: readonly Record<string, unknown>[],
  onError: OnError,
  skip: (row: SkippedRow) => void,
): Promise<{ kept: number[]; predictions: Prediction[] }> {
  const inFile = (error: InputError, index: number): InputError =>
    new InputError(error.code, error.reason, { ...error.details, ...place(index) });
  if (onError === 'stop') {
    try {
      return { kept: rows.map((_, i) => i), predictions: await model.predictBatch(rows) };
    } catch (error) {
      const index = error instanceof InputError ? error.details.row : undefined;
      if (!(error instanceof InputError) || typeof index !== 'number' || rows[index] === undefined) throw error;
      throw inFile(error, index);
    }
  }
  const kept: number[] = [];
  const predictions: Prediction[] = [];
  (await model.predictEach(rows)).forEach((result, i) => {
    if (result.ok) {
      kept.push(i);
      predictions.push(result.prediction);
      return;
    }
    const refusal = inFile(result.error, i);
    skip({ ...place(i), message: refusal.message, code: refusal.code });
  });
  return { kept, predictions };
}

/** A table model's raw fields; a tensor model cannot be fed from a CSV. */
function tabularFields(info: ModelInfo): readonly InputField[] {
  const tensors = info.inputs.filter((field) => field.type === 'tensor');
  if (tensors.length > 0) {
    throw new CliError(
      'NOT_TABULAR',
      `${info.name} takes tensors (${tensors.map((t) => `${t.name}: ${t.type === 'tensor' ? `${t.dtype}[${t.shape.join(', ')}]` : ''}`).join('; ')}), not table rows: a CSV cannot feed it; score it from code with predictBatch()`,
      { bundle: info.name },
    );
  }
  return info.inputs;
}

/** A missing-value marker that is also a category's level hides that level: say so once. */
function warnAboutLevels(fields: readonly InputField[], na: ReadonlySet<string>, warn: ((message: string) => void) | undefined): void {
  for (const field of fields) {
    if (field.type !== 'category') continue;
    const hidden = field.categories.filter((level) => na.has(level));
    if (hidden.length > 0)
      warn?.(
        `field "${field.name}" has the level${hidden.length === 1 ? '' : 's'} ${hidden.map((l) => `"${l}"`).join(', ')}, which --na reads as missing; give --na to choose the markers`,
      );
  }
}

interface HeaderLayout {
  readonly columns: number;
  readonly fieldColumns: readonly FieldColumn[];
  readonly predictionColumns: readonly string[];
  /** A record as the row object the model takes (the slow path): numbers parsed, markers as null. */
  readonly toRow: (bytes: Buffer, cells: CsvCells, firstCell: number, na: ReadonlySet<string>) => Record<string, unknown>;
}

/** Where the model's fields are among the header's columns; every field must be one (others are copied through). */
function headerLayout(header: readonly string[], fields: readonly InputField[], info: ModelInfo, input: string): HeaderLayout {
  const missing = fields.filter((f) => !header.includes(f.name)).map((f) => f.name);
  if (missing.length > 0) {
    const has = header.length > 30 ? `${header.slice(0, 30).join(', ')}, …` : header.join(', ');
    throw new CliError(
      'MISSING_COLUMN',
      `${shown(input)} lacks ${missing.length === 1 ? 'the column' : `${missing.length} columns`} the model needs: ${missing.join(', ')} (the file has: ${has}); a column may be empty for a missing value, but it must be there`,
      { path: shown(input), missing },
    );
  }
  const repeated = fields.filter((f) => header.indexOf(f.name) !== header.lastIndexOf(f.name)).map((f) => f.name);
  if (repeated.length > 0)
    throw new CliError(
      'INVALID_CSV',
      `${shown(input)} has the column${repeated.length === 1 ? '' : 's'} ${repeated.join(', ')} more than once: which one the model should read is unclear`,
      { path: shown(input) },
    );
  const fieldColumns = fields.map((field) => ({ field, index: header.indexOf(field.name) }));
  const toRow = (bytes: Buffer, cells: CsvCells, firstCell: number, na: ReadonlySet<string>): Record<string, unknown> => {
    const row: Record<string, unknown> = {};
    for (const { field, index } of fieldColumns) {
      const text = cellText(bytes, cells, firstCell + index);
      row[field.name] = na.has(text) ? null : field.type === 'number' ? numberCell(text, na) : text;
    }
    return row;
  };
  return { columns: header.length, fieldColumns, predictionColumns: predictionColumnsFor(info, header), toRow };
}

/** A number, null for a missing one; other text stays a string so the spec's validator names it (WRONG_TYPE). */
function numberCell(text: string, na: ReadonlySet<string>): number | string | null {
  const trimmed = text.trim();
  if (na.has(trimmed)) return null;
  if (DECIMAL.test(trimmed)) return Number(trimmed);
  if (INFINITE.test(trimmed)) return trimmed.startsWith('-') ? Number.NEGATIVE_INFINITY : Number.POSITIVE_INFINITY;
  return text;
}

/** `label` and `p_<class>` per class, or `prediction`; a name the input already uses gets a `predicted_` prefix. */
function predictionColumnsFor(info: ModelInfo, header: readonly string[]): string[] {
  const wanted = info.task.kind === 'classification' ? ['label', ...info.task.classes.map((c) => `p_${c}`)] : ['prediction'];
  const taken = new Set(header);
  return wanted.map((name) => {
    let unique = name;
    while (taken.has(unique)) unique = `predicted_${unique}`;
    taken.add(unique);
    return unique;
  });
}

function predictionCells(prediction: Prediction, classes: readonly string[]): string[] {
  if (prediction.kind === 'regression') return [String(prediction.value)];
  if (prediction.kind !== 'classification') return [prediction.kind];
  return [prediction.label, ...classes.map((c) => String(prediction.probabilities[c]))];
}

/** Row r of a columnar answer as the prediction cells, the values `predictionCells` writes for the same row. */
function predictionCellsAt(predicted: ColumnarPrediction, r: number): string {
  if (predicted.kind === 'regression') return String(predicted.values[r]);
  const k = predicted.classes.length;
  let cells = csvCell(predicted.labels[r]!);
  for (let c = 0; c < k; c++) cells += `,${String(predicted.probabilities[r * k + c])}`;
  return cells;
}

/** The batch's output: each scored record's line as it was in the file, then `,` and its prediction cells. */
function outputLines(batch: BatchRecords, answers: readonly (string | undefined)[]): Buffer {
  let size = 0;
  answers.forEach((cells, i) => {
    if (cells !== undefined) size += batch.ends[i]! - batch.starts[i]! + Buffer.byteLength(cells) + 2;
  });
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  answers.forEach((cells, i) => {
    if (cells === undefined) return;
    out.set(batch.bytesOf(i), at);
    at += batch.ends[i]! - batch.starts[i]!;
    out[at++] = 0x2c;
    at += out.write(cells, at);
    out[at++] = 0x0a;
  });
  return out;
}

async function closeStream(stream: Writable): Promise<void> {
  stream.end();
  await once(stream, 'finish');
}

/** The progress line: rows, rows/s, and how much of the file has been read. */
export function describeProgress(p: ScoreProgress): string {
  const rate = p.rows / Math.max(p.elapsedMs / 1000, 1e-9);
  const percent = p.totalBytes === 0 ? 100 : (100 * p.bytesRead) / p.totalBytes;
  return `scored ${count(p.scored)} rows (${count(Math.round(rate))} rows/s), read ${bytes(p.bytesRead)} of ${bytes(p.totalBytes)} (${percent.toFixed(0)}%)${p.skipped > 0 ? `, ${count(p.skipped)} skipped` : ''}`;
}

export const scoreCommand: Command = {
  name: 'score',
  summary: 'score a CSV file in batches with a bundle (streaming)',
  usage:
    'ondevice score <bundle-dir> <input.csv> [--out <output.csv>] [--version <v>] [--batch <rows>] [--on-error stop|skip] [--na <markers>]',
  help: `Scores every row of a CSV file with the bundle's live version (or --version), in Node with the
browser's own loader, checks, feature spec code, runtime and scorer (ondevice/node). The version is
verified (hashes) and must pass its gate first. The file is streamed, never read whole. The first
line names the columns: every field of the feature spec must be a column (others are ignored and
copied through). Number cells are parsed. A cell that is a missing-value marker is a missing value
(null) in every column, numbers and categories alike; the markers are those pandas.read_csv uses
by default (so a training script that read its data with pandas saw the same cells as missing):
  ${DEFAULT_NA.map((m) => (m === '' ? '(empty)' : m)).join(' ')}

Writes the input's columns plus, for classification, label and p_<class> for each class, or for
regression, prediction (a name the input already uses gets a predicted_ prefix). Progress goes
to stderr (redrawn in place on a terminal).

  <bundle-dir>            A bundle folder (<bundles>/<name>/) or its channel.json. Table models only.
  <input.csv>             The rows to score (comma-separated, with a header line; quotes as RFC 4180).
  --out <output.csv>      Where to write. Default: stdout. Written whole or not at all.
  --version <v>           Score with this packed version instead of the live one.
  --batch <rows>          Rows per model run, at most (the first runs are smaller). Default ${DEFAULT_BATCH_ROWS}.
  --na <markers>          The missing-value markers instead, comma-separated (--na "" for empty cells
                          only; --na ",NA" for empty and NA). A marker that is also a category's
                          level is reported: that level could then never be sent.
  --on-error stop|skip    A row the model refuses (missing value, unknown category, text in a number
                          column...): stop (default) ends with "row N (line L): why"; skip reports it
                          on stderr, leaves it out of the output and counts it.`,
  async run(argv, io) {
    const args = parseCommandArgs(
      scoreCommand,
      argv,
      {
        out: { type: 'string', short: 'o' },
        version: { type: 'string' },
        batch: { type: 'string' },
        'on-error': { type: 'string' },
        na: { type: 'string' },
      },
      io,
      { min: 2, max: 2, names: 'a bundle folder and a CSV file' },
    );
    if (args === undefined) return 0;
    const { values, positionals } = args;
    const onError = values['on-error'] ?? 'stop';
    if (onError !== 'stop' && onError !== 'skip') throw new UsageError(`--on-error must be stop or skip, got "${onError}"`);
    const batchRows = readInteger(values.batch, 'batch', 1, DEFAULT_BATCH_ROWS);

    const tty = io.stderrIsTTY;
    let lastDrawn = 0;
    let drawn = false;
    const clear = (): void => {
      if (drawn) io.stderr.write('\r\x1b[K');
      drawn = false;
    };
    const summary = await scoreCsv({
      bundle: positionals[0]!,
      input: positionals[1]!,
      ...(values.out === undefined ? {} : { output: values.out }),
      stdout: io.stdout,
      ...(values.version === undefined ? {} : { version: values.version }),
      batchRows,
      onError,
      ...(values.na === undefined ? {} : { na: values.na.split(',') }),
      onWarning: (message) => io.stderr.write(`ondevice score: warning: ${message}\n`),
      onReady: (ready) =>
        io.stderr.write(
          `${ready.name} ${ready.version}: verified, gate passed (runtime ${num(ready.runtimeMs)} ms, gate ${num(ready.gateMs)} ms); scoring ${shown(positionals[1]!)}\n`,
        ),
      onSkip: (row) => {
        clear();
        io.stderr.write(`skipped ${row.row === undefined ? `line ${row.line}: ${row.message}` : row.message} [${row.code}]\n`);
      },
      onProgress: (p) => {
        const now = p.elapsedMs;
        // A terminal gets a line redrawn a few times a second; a log gets one every 5 s.
        if (now - lastDrawn < (tty ? 100 : 5000)) return;
        lastDrawn = now;
        if (tty) {
          io.stderr.write(`\r\x1b[K${describeProgress(p)}`);
          drawn = true;
        } else io.stderr.write(`${describeProgress(p)}\n`);
      },
    });
    clear();
    io.stderr.write(
      `scored ${plural(summary.scored, 'row')} with ${summary.name} ${summary.version} in ${num(summary.elapsedMs / 1000)} s (${count(Math.round(summary.rowsPerSecond))} rows/s, ${bytes(summary.totalBytes)})` +
        ` -> ${summary.output === undefined ? 'stdout' : shown(summary.output)}; columns added: ${summary.predictionColumns.join(', ')}\n` +
        (summary.skipped > 0 ? `${plural(summary.skipped, 'row')} skipped (listed above) and left out of the output\n` : ''),
    );
    return 0;
  },
};
