// The CSV reader `ondevice score` streams files with (src/cli/csv.ts) and the column builder that
// reads its cells (src/cli/csv-columns.ts), against what the format and `Number` say.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ColumnBuilder } from '../src/cli/csv-columns.js';
import { cellText, readCsv, splitRecords } from '../src/cli/csv.js';
import type { InputField } from '../src/features/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ondevice-csv-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every record of the file as cell texts, and the problems, each with its line. */
async function readAll(
  path: string,
  chunkBytes: number,
): Promise<{ records: { line: number; cells: string[] }[]; problems: { line: number; message: string }[] }> {
  const records: { line: number; cells: string[] }[] = [];
  const problems: { line: number; message: string }[] = [];
  for await (const chunk of readCsv(path, chunkBytes)) {
    const r = chunk.records;
    for (let i = 0; i < r.length; i++) {
      if (r.counts[i]! < 0) problems.push({ line: r.lines[i]!, message: r.problems.get(i)! });
      else
        records.push({
          line: r.lines[i]!,
          cells: Array.from({ length: r.counts[i]! }, (_, c) => cellText(chunk.bytes, chunk.cells, r.firsts[i]! + c)),
        });
    }
  }
  return { records, problems };
}

const cellChars = fc.constantFrom('a', 'b', 'Z', '1', '.', ' ', ',', '"', '\n', '\r', 'é', '日', '😀');
const cell = fc.array(cellChars, { maxLength: 8 }).map((chars) => chars.join(''));
const needsQuotes = (text: string): boolean => /[",\r\n]/.test(text);

describe('readCsv', () => {
  it('reads back any records written as RFC 4180 says (quotes, doubled quotes, line breaks in cells, CRLF, a BOM), whatever the chunk size', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(cell, { minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 12 }),
        fc.constantFrom('\n', '\r\n'),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 64 }),
        async (records, newline, bom, quoteAll, chunkBytes) => {
          // A record of one empty cell is a blank line, which the reader skips: quoted, it is a record.
          const written = records.map((cells) =>
            cells
              .map((text) =>
                quoteAll || needsQuotes(text) || (cells.length === 1 && text === '') ? `"${text.replaceAll('"', '""')}"` : text,
              )
              .join(','),
          );
          const path = join(dir, 'roundtrip.csv');
          await writeFile(path, `${bom ? '\ufeff' : ''}${written.join(newline)}${newline}`);
          const read = await readAll(path, chunkBytes);
          expect(read.problems).toEqual([]);
          expect(read.records.map((r) => r.cells)).toEqual(records);
          // Each record starts on the line after the last one's line breaks (its own and those inside its cells).
          let line = 1;
          read.records.forEach((record, i) => {
            expect(record.line).toBe(line);
            line += 1 + written[i]!.split(/\r\n|\r|\n/).length - 1;
          });
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reports a malformed record with its line and reads on from the next line', async () => {
    const path = join(dir, 'malformed.csv');
    await writeFile(path, 'a,b\n1,2\nx"y,3\n"p"q,4\n5,6\n"never closed,7\n');
    const read = await readAll(path, 1 << 20);
    expect(read.records.map((r) => [r.line, ...r.cells])).toEqual([
      [1, 'a', 'b'],
      [2, '1', '2'],
      [5, '5', '6'],
    ]);
    expect(read.problems).toEqual([
      { line: 3, message: 'a quote inside an unquoted cell' },
      { line: 4, message: 'text follows a closing quote in the same cell' },
      { line: 6, message: 'a quoted cell is never closed' },
    ]);
  });

  it('skips blank lines and keeps the line numbers of the records after them', async () => {
    const path = join(dir, 'blank.csv');
    await writeFile(path, 'a\n\n1\r\n\r\n2\n');
    const read = await readAll(path, 3);
    expect(read.records.map((r) => [r.line, ...r.cells])).toEqual([
      [1, 'a'],
      [3, '1'],
      [5, '2'],
    ]);
  });
});

describe('ColumnBuilder', () => {
  const numberField: InputField = { name: 'x', type: 'number' } as InputField;
  const categoryField: InputField = { name: 'c', type: 'category', categories: ['a', 'b'] } as unknown as InputField;

  function column(text: string, na: readonly string[] = ['', 'NA']): { value: number; irregular: boolean } {
    const builder = new ColumnBuilder([{ field: numberField, index: 0 }], new Set(na), 4);
    const bytes = Buffer.from(`${text}\n`);
    const split = splitRecords(bytes, 1, true);
    builder.add(bytes, split.cells, split.records.firsts[0]!);
    const irregular = builder.irregular;
    return { value: (builder.take().x as Float64Array)[0]!, irregular };
  }

  it('reads every plain decimal exactly as Number does (the digit-by-digit path and the rest)', () => {
    const decimal = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
      fc.stringMatching(/^[+-]?\d{1,17}(\.\d{0,17})?$/),
      fc.stringMatching(/^[+-]?\.\d{1,9}$/),
    );
    fc.assert(
      fc.property(decimal, (text) => {
        const read = column(text);
        expect(read.irregular).toBe(false);
        expect(Object.is(read.value, Number(text))).toBe(true);
      }),
      { numRuns: 20_000 },
    );
  });

  it('reads a missing-value marker as NaN, and marks text or an infinity irregular (the row path then names it)', () => {
    expect(column('NA')).toEqual({ value: Number.NaN, irregular: false });
    expect(column('')).toEqual({ value: Number.NaN, irregular: false });
    expect(column('long').irregular).toBe(true);
    expect(column('Infinity').irregular).toBe(true);
    expect(column('0x10').irregular).toBe(true);
    // A marker that reads as a number (--na 0) is missing, not zero.
    expect(column('0', ['0'])).toEqual({ value: Number.NaN, irregular: false });
  });

  it('codes categories by their text, quoted or not, the same level the same code within a batch', () => {
    const builder = new ColumnBuilder([{ field: categoryField, index: 0 }], new Set(['NA']), 8);
    const bytes = Buffer.from('a\n"a"\nb\nNA\n"say ""hi"""\nb\n');
    const split = splitRecords(bytes, 1, true);
    for (let i = 0; i < split.records.length; i++) builder.add(bytes, split.cells, split.records.firsts[i]!);
    const { codes, levels } = builder.take().c as { codes: Int32Array; levels: string[] };
    expect(Array.from(codes, (code) => (code < 0 ? null : levels[code]))).toEqual(['a', 'a', 'b', null, 'say "hi"', 'b']);
  });
});
