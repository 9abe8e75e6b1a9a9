// `ondevice score` against pandas + scikit-learn on the same CSV file (section 6 of bench/README.md).
// Run alone: `npx tsx bench/cli/score-bench.ts` (after `npm run build:lib` and `npm run pack:models`).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const AMES = join(root, 'models/house-prices/data/ames.csv');
const BUNDLE = join(root, 'bench/public/bundles/house-prices-gradient-boosting');
const CLI = join(root, 'dist/lib/cli/main.js');
const PYTHON = '/usr/bin/python3';
const TIME = '/usr/bin/time';

export interface ScoreRun {
  /** As the CLI reports it: rows over the time from the first byte read to the last written. */
  readonly rowsPerSecond: number;
  /** The whole process: start, load, verification, gate, scoring, exit. */
  readonly processMs: number;
  /** Peak resident memory of the process (GNU time), null where it is not installed. */
  readonly maxRssKiB: number | null;
}

export interface CliFigures {
  readonly rows: number;
  readonly fileBytes: number;
  readonly ondevice: { readonly runs: readonly ScoreRun[]; readonly medianRowsPerSecond: number };
  /** The same file ten times over: memory stays flat when the file grows. */
  readonly ondeviceTenfold: ScoreRun & { readonly rows: number; readonly fileBytes: number };
  readonly pandas:
    | {
        readonly runs: readonly { readonly seconds: number; readonly rows: number }[];
        readonly medianRowsPerSecond: number;
        readonly fitSeconds: number;
        readonly versions: string;
      }
    | { readonly skipped: string };
}

/** The Ames rows repeated up to `rows` data rows, as the file a team would score in bulk. */
function tiledAmes(rows: number): string {
  const path = join(tmpdir(), `ondevice-bench-ames-${rows}.csv`);
  const [header, ...lines] = readFileSync(AMES, 'utf8').trimEnd().split('\n');
  const body = Array.from({ length: rows }, (_, i) => lines[i % lines.length]);
  writeFileSync(path, `${header}\n${body.join('\n')}\n`);
  return path;
}

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

function scoreOnce(input: string): ScoreRun {
  const output = join(tmpdir(), 'ondevice-bench-scored.csv');
  const timed = existsSync(TIME);
  const started = performance.now();
  const run = timed
    ? spawnSync(TIME, ['-f', 'maxrss=%M', process.execPath, CLI, 'score', BUNDLE, input, '--out', output], { encoding: 'utf8' })
    : spawnSync(process.execPath, [CLI, 'score', BUNDLE, input, '--out', output], { encoding: 'utf8' });
  const processMs = performance.now() - started;
  rmSync(output, { force: true });
  if (run.status !== 0) throw new Error(`ondevice score failed: ${run.stderr}`);
  const rate = /\(([\d,]+) rows\/s/.exec(run.stderr)?.[1];
  if (rate === undefined) throw new Error(`no rows/s in: ${run.stderr}`);
  const rss = /maxrss=(\d+)/.exec(run.stderr)?.[1];
  return { rowsPerSecond: Number(rate.replaceAll(',', '')), processMs, maxRssKiB: rss === undefined ? null : Number(rss) };
}

function pandasFigures(input: string, repetitions: number): CliFigures['pandas'] {
  const output = join(tmpdir(), 'ondevice-bench-pandas.csv');
  try {
    const text = execFileSync(PYTHON, [join(root, 'bench/cli/pandas_rival.py'), input, output, String(repetitions)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const result = JSON.parse(text) as {
      fitSeconds: number;
      runs: { seconds: number; rows: number }[];
      pandas: string;
      sklearn: string;
      python: string;
    };
    return {
      runs: result.runs,
      medianRowsPerSecond: median(result.runs.map((r) => r.rows / r.seconds)),
      fitSeconds: result.fitSeconds,
      versions: `Python ${result.python}, pandas ${result.pandas}, scikit-learn ${result.sklearn}`,
    };
  } catch (error) {
    return {
      skipped: `${PYTHON} with pandas and scikit-learn did not run (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); models/README.md says how to install them`,
    };
  } finally {
    rmSync(output, { force: true });
  }
}

export function cliFigures(options: { rows: number; repetitions: number }): CliFigures {
  if (!existsSync(CLI)) throw new Error('dist/lib is missing: run npm run build:lib');
  if (!existsSync(BUNDLE)) throw new Error('bench/public/bundles is missing: run npm run pack:models');
  const input = tiledAmes(options.rows);
  const tenfold = tiledAmes(options.rows * 10);
  try {
    const runs = Array.from({ length: options.repetitions }, () => scoreOnce(input));
    const large = scoreOnce(tenfold);
    return {
      rows: options.rows,
      fileBytes: statSync(input).size,
      ondevice: { runs, medianRowsPerSecond: median(runs.map((r) => r.rowsPerSecond)) },
      ondeviceTenfold: { ...large, rows: options.rows * 10, fileBytes: statSync(tenfold).size },
      pandas: pandasFigures(input, options.repetitions),
    };
  } finally {
    rmSync(input, { force: true });
    rmSync(tenfold, { force: true });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(JSON.stringify(cliFigures({ rows: 30_000, repetitions: 5 }), null, 2));
}
