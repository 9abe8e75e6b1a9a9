import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CsvError, parse, type Info, type Parser } from 'csv-parse';
import { stringify } from 'csv-stringify/sync';
import { InputError, describeUnknown } from '../errors/index.js';
import type { InputField } from '../features/index.js';
import { load } from '../node/index.js';
import type { Prediction } from '../scoring/index.js';
import type { ModelInfo, OndeviceModel } from '../worker/protocol.js';
import { parseCommandArgs, readInteger, UsageError, type Command } from './command.js';
import { CliError } from './errors.js';
import { shown } from './files.js';
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
  /** Rows per model run. Default 1000 (at most the spec's maxBatchRows). */
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
  readonly onReady?: (ready: { readonly name: string; readonly version: string; readonly gateMs: number; readonly runtimeMs: number }) => void;
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

interface PendingRow {
  readonly row: number;
  readonly line: number;
  readonly record: readonly string[];
  readonly raw: Record<string, unknown>;
}

export const DEFAULT_BATCH_ROWS = 1000;
/**
 * What `pandas.read_csv` reads as missing by default: a training script that read its data with
 * pandas saw these cells as NaN, in every column, so scoring reads them as missing too.
 */
export const DEFAULT_NA: readonly string[] = ['', '#N/A', '#N/A N/A', '#NA', '-1.#IND', '-1.#QNAN', '-NaN', '-nan', '1.#IND', '1.#QNAN', '<NA>', 'N/A', 'NA', 'NULL', 'NaN', 'None', 'n/a', 'nan', 'null'];
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INFINITE = /^[+-]?inf(inity)?$/i;

/**
 * Batch scoring of a CSV file with the browser's own scorer: the version is verified and gated
 * first, then the file is streamed (never read whole), parsed, turned into rows per the feature
 * spec, and scored `batchRows` at a time. The output is the input's columns plus the predictions.
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

  // One count for both kinds of skipped line: unreadable CSV (from the parser) and rows the model refuses.
  const skips = { count: 0 };
  const skip = (row: SkippedRow): void => {
    skips.count++;
    options.onSkip?.(row);
  };
  const reader = new CsvRows(input);
  let model: OndeviceModel | undefined;
  let sink: Writable | undefined;
  const temporary = output === undefined ? undefined : `${output}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    // The header first: a missing column is reported before the model is even loaded.
    const header = await reader.next();
    if (header?.kind === 'malformed') throw new CliError('INVALID_CSV', `${shown(input)}: ${header.message}`, { path: shown(input), line: header.line });
    if (header === undefined) throw new CliError('INVALID_CSV', `${shown(input)} is empty: it needs a header line naming the columns`, { path: shown(input) });
    // The same loader, checks and gate as a browser's (ondevice/node): no drift, no shards, no updates.
    model = await load(options.bundle, { ...(options.version === undefined ? {} : { version: options.version }), monitor: false, shards: 0, batching: false, checkForUpdates: false });
    const info = await model.info();
    const fields = tabularFields(info);
    const na = new Set(options.na ?? DEFAULT_NA);
    warnAboutLevels(fields, na, options.onWarning);
    const toRow = rowReader(header.record, fields, input, na);
    options.onReady?.({ name: info.name, version: info.version, runtimeMs: info.timings.runtimeMs, gateMs: info.timings.gateMs });
    sink = temporary === undefined ? (options.stdout ?? process.stdout) : createWriteStream(temporary);
    const batchRows = options.batchRows ?? DEFAULT_BATCH_ROWS;
    const summary = await streamScores({ ...options, input, reader, header: header.record, toRow, model, info, batchRows, sink, totalBytes, skip, skips });
    if (temporary !== undefined) {
      await closeStream(sink);
      await rename(temporary, output!);
    }
    return { ...summary, name: info.name, version: info.version, output };
  } catch (error) {
    if (temporary !== undefined && sink !== undefined) {
      // A write still in flight fails once the stream is destroyed: that is expected, not a crash.
      sink.on('error', () => undefined);
      sink.destroy();
      await once(sink, 'close').catch(() => undefined);
      await rm(temporary, { force: true });
    }
    throw error;
  } finally {
    reader.close();
    await model?.dispose();
  }
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
    if (hidden.length > 0) warn?.(`field "${field.name}" has the level${hidden.length === 1 ? '' : 's'} ${hidden.map((l) => `"${l}"`).join(', ')}, which --na reads as missing; give --na to choose the markers`);
  }
}

type CsvItem = { readonly kind: 'record'; readonly record: string[]; readonly line: number } | { readonly kind: 'malformed'; readonly line: number; readonly message: string };

function lineBreaksIn(record: readonly string[]): number {
  let breaks = 0;
  for (const cell of record) if (cell.includes('\n') || cell.includes('\r')) breaks += cell.match(/\r\n|\n|\r/g)!.length;
  return breaks;
}

/** Records of a CSV file, streamed, with the line each starts on; CSV syntax errors become `INVALID_CSV`. */
class CsvRows {
  readonly #input: string;
  readonly #source: Readable;
  readonly #parser: Parser;
  readonly #records: AsyncIterator<{ record: string[]; info: Info }>;
  /** Malformed lines the parser passed over, not yet handed out: they come out in file order. */
  readonly #malformed: { line: number; message: string }[] = [];
  #pending: (CsvItem & { kind: 'record' }) | undefined;
  /** Bytes parsed so far. */
  bytesRead = 0;

  constructor(input: string) {
    this.#input = input;
    this.#parser = parse({
      info: true,
      bom: true,
      skip_empty_lines: true,
      // The parser runs ahead of the rows being scored: a malformed line is queued and handed out
      // after the rows before it, so problems are reported in the order of the file.
      skip_records_with_error: true,
      on_skip: (error) => {
        this.#malformed.push({ line: lineOf(error), message: error?.message ?? 'unreadable CSV record' });
        return undefined;
      },
    });
    this.#source = createReadStream(input);
    this.#source.on('error', (error: Error) => this.#parser.destroy(error));
    this.#source.pipe(this.#parser);
    this.#records = (this.#parser as AsyncIterable<{ record: string[]; info: Info }>)[Symbol.asyncIterator]();
  }

  async next(): Promise<CsvItem | undefined> {
    if (this.#pending !== undefined) {
      const pending = this.#pending;
      this.#pending = undefined;
      return this.#before(pending);
    }
    let item: IteratorResult<{ record: string[]; info: Info }>;
    try {
      item = await this.#records.next();
    } catch (error) {
      if (error instanceof CsvError) throw new CliError('INVALID_CSV', `${shown(this.#input)}: ${error.message}`, { path: shown(this.#input), line: lineOf(error) });
      throw error;
    }
    if (item.done === true) {
      const malformed = this.#malformed.shift();
      return malformed === undefined ? undefined : { kind: 'malformed', ...malformed };
    }
    const { record, info } = item.value;
    this.bytesRead = info.bytes;
    // `lines` counts to the record's end; a quoted cell may span lines.
    return this.#before({ kind: 'record', record, line: info.lines - lineBreaksIn(record) });
  }

  /** A malformed line that comes before `item` is handed out first; `item` waits for the next call. */
  #before(item: CsvItem & { kind: 'record' }): CsvItem {
    const first = this.#malformed[0];
    if (first === undefined || first.line >= item.line) return item;
    this.#malformed.shift();
    this.#pending = item;
    return { kind: 'malformed', ...first };
  }

  close(): void {
    this.#source.destroy();
    this.#parser.destroy();
  }
}

interface StreamContext extends ScoreOptions {
  readonly input: string;
  readonly reader: CsvRows;
  readonly header: readonly string[];
  readonly toRow: (record: readonly string[]) => Record<string, unknown>;
  readonly model: OndeviceModel;
  readonly info: ModelInfo;
  readonly batchRows: number;
  readonly sink: Writable;
  readonly totalBytes: number;
  readonly skip: (row: SkippedRow) => void;
  readonly skips: { readonly count: number };
}

async function streamScores(context: StreamContext): Promise<Omit<ScoreSummary, 'name' | 'version' | 'output'>> {
  const { model, info, sink, totalBytes, reader, header, toRow, skip, skips } = context;
  const classes = info.task.kind === 'classification' ? info.task.classes : [];
  const onError = context.onError ?? 'stop';
  const started = performance.now();
  let batch: PendingRow[] = [];
  let rows = 0;
  let scored = 0;

  const write = async (text: string): Promise<void> => {
    if (!sink.write(text)) await once(sink, 'drain');
  };
  const progress = (): ScoreProgress => ({ rows, scored, skipped: skips.count, bytesRead: reader.bytesRead, totalBytes, elapsedMs: performance.now() - started });
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const { kept, predictions } = await scoreBatch(model, batch, onError, skip);
    batch = [];
    if (kept.length > 0) await write(stringify(kept.map((row, i) => [...row.record, ...predictionCells(predictions[i]!, classes)])));
    scored += kept.length;
    context.onProgress?.(progress());
  };

  const predictionColumns = predictionColumnsFor(info, header);
  await write(stringify([[...header, ...predictionColumns]]));
  for (let next = await reader.next(); next !== undefined; next = await reader.next()) {
    if (next.kind === 'malformed') {
      // The rows before it are scored (and their problems reported) first: reports follow the file.
      await flush();
      if (onError === 'stop') throw new CliError('INVALID_CSV', `${shown(context.input)}: ${next.message}`, { path: shown(context.input), line: next.line });
      skip({ row: undefined, line: next.line, message: next.message, code: 'INVALID_CSV' });
      continue;
    }
    rows++;
    batch.push({ row: rows, line: next.line, record: next.record, raw: toRow(next.record) });
    if (batch.length >= context.batchRows) await flush();
  }
  await flush();
  const elapsedMs = performance.now() - started;
  // Malformed lines skipped by the parser are counted in `skipped` but were never rows.
  return { rows, scored, skipped: skips.count, bytesRead: totalBytes, totalBytes, elapsedMs, predictionColumns, rowsPerSecond: rows / Math.max(elapsedMs / 1000, 1e-9) };
}

/**
 * Scores a batch. A bad row (InputError names its index) is dropped and the rest scored again in
 * `skip` mode; in `stop` mode it ends the run, named by its row and line in the file.
 */
async function scoreBatch(model: OndeviceModel, batch: readonly PendingRow[], onError: OnError, skip: (row: SkippedRow) => void): Promise<{ kept: PendingRow[]; predictions: Prediction[] }> {
  let kept = [...batch];
  for (;;) {
    try {
      return { kept, predictions: kept.length === 0 ? [] : await model.predictBatch(kept.map((r) => r.raw)) };
    } catch (error) {
      const index = error instanceof InputError ? error.details.row : undefined;
      if (!(error instanceof InputError) || typeof index !== 'number' || kept[index] === undefined) throw error;
      const bad = kept[index]!;
      const refusal = new InputError(error.code, error.reason, { ...error.details, row: bad.row, line: bad.line });
      if (onError === 'stop') throw refusal;
      skip({ row: bad.row, line: bad.line, message: refusal.message, code: error.code });
      kept = kept.filter((_, i) => i !== index);
    }
  }
}

/**
 * Turns a CSV record (strings) into a raw row as the feature spec wants it: numbers parsed, a
 * missing-value marker (`na`) as null in any column. Every field must be a column; others are ignored.
 */
function rowReader(header: readonly string[], fields: readonly InputField[], input: string, na: ReadonlySet<string>): (record: readonly string[]) => Record<string, unknown> {
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
  if (repeated.length > 0) throw new CliError('INVALID_CSV', `${shown(input)} has the column${repeated.length === 1 ? '' : 's'} ${repeated.join(', ')} more than once: which one the model should read is unclear`, { path: shown(input) });
  const columns = fields.map((f) => ({ name: f.name, index: header.indexOf(f.name), number: f.type === 'number' }));
  return (record) => {
    const row: Record<string, unknown> = {};
    for (const { name, index, number } of columns) {
      const text = record[index] ?? '';
      row[name] = na.has(text) ? null : number ? numberCell(text, na) : text;
    }
    return row;
  };
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
  return [prediction.label, ...classes.map((c) => String(prediction.probabilities[c]))];
}

/** csv-parse puts the line number on its errors as `lines`. */
function lineOf(error: CsvError | undefined): number {
  return typeof error?.lines === 'number' ? error.lines : 0;
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
  usage: 'ondevice score <bundle-dir> <input.csv> [--out <output.csv>] [--version <v>] [--batch <rows>] [--on-error stop|skip] [--na <markers>]',
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
  --batch <rows>          Rows per model run. Default ${DEFAULT_BATCH_ROWS}.
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
      { out: { type: 'string', short: 'o' }, version: { type: 'string' }, batch: { type: 'string' }, 'on-error': { type: 'string' }, na: { type: 'string' } },
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
      onReady: (ready) => io.stderr.write(`${ready.name} ${ready.version}: verified, gate passed (runtime ${num(ready.runtimeMs)} ms, gate ${num(ready.gateMs)} ms); scoring ${shown(positionals[1]!)}\n`),
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
