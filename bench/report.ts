// Renders bench/README.md from one run's results: every figure is computed from the JSON, so the
// prose never disagrees with the numbers. Edit this file, not the README, to change the text.
import type { ContestantId, LatencyStats, RivalId } from './protocol.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchResults, ModelResults, StartPhase } from './results-types.js';

const LABELS: Readonly<Record<ContestantId, string>> = {
  ondevice: '**ondevice** `predict(row)`',
  'ondevice-unbatched': 'ondevice, `batching: false`',
  'ondevice-columns': '**ondevice** `predictColumns(columns)`',
  'ort-main': '(a) onnxruntime-web, main thread',
  'ort-worker': '(b) onnxruntime-web, hand-written worker',
  'ort-proxy': '(c) onnxruntime-web proxy worker',
  'tfjs-wasm': '(d) TensorFlow.js WASM, main thread',
  'comlink-worker': '(e) plain comlink worker, 1 row/call',
};

const RIVALS: readonly RivalId[] = ['ort-main', 'ort-worker', 'ort-proxy', 'tfjs-wasm', 'comlink-worker'];
const isRival = (id: ContestantId): id is RivalId => (RIVALS as readonly string[]).includes(id);

function time(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 100) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(0)} ms`;
}

const us = (value: number): string => `${value.toFixed(value < 10 ? 1 : 0)} µs`;
const count = (n: number): string => Math.round(n).toLocaleString('en-US');
const bytes = (n: number): string => `${count(n)} B`;
const mebibytes = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;
const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
function ratio(value: number, best: number | undefined): string {
  if (best === undefined || best === 0 || !Number.isFinite(best)) return '—';
  const r = value / best;
  // Two decimals hide the small ratios (×0.00): those get two significant digits instead.
  return `×${r >= 0.1 ? r.toFixed(2) : r.toPrecision(2)}`;
}

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');
}

function entries<T>(record: Readonly<Partial<Record<ContestantId, T>>>): [ContestantId, T][] {
  return Object.entries(record) as [ContestantId, T][];
}

function latencyRows(models: Readonly<Record<string, ModelResults>>): string[][] {
  const rows: string[][] = [];
  for (const [name, model] of Object.entries(models)) {
    if (model.latency === undefined) continue;
    const results = entries<LatencyStats>(model.latency.results);
    const best = Math.min(...results.filter(([id]) => isRival(id)).map(([, s]) => s.meanMs));
    for (const [id, stats] of results)
      rows.push([name, LABELS[id], time(stats.meanMs), time(stats.p50Ms), time(stats.p99Ms), ratio(stats.meanMs, best)]);
  }
  return rows;
}

function startRow(model: string, who: string, what: string, phase: StartPhase, rival: StartPhase | undefined): string[] {
  const fetched =
    phase.requests.length === 0
      ? 'none'
      : phase.requests.map((r) => `${r.path.replace(/^\/(assets|bundles\/[^/]+)\//, '')} (${r.status})`).join(', ');
  return [
    model,
    who,
    what,
    time(phase.ms),
    String(phase.requests.length),
    String(phase.bundleRequests),
    bytes(phase.wireBytes),
    rival === undefined ? '—' : ratio(phase.ms, rival.ms),
    fetched,
  ];
}

function breakdownSection(results: BenchResults): string {
  const entry = Object.values(results.models).find((m) => m.breakdown !== undefined);
  const b = entry?.breakdown;
  if (b === undefined) return '';
  const u = b.us;
  const rows: [string, number, string][] = [
    ['bare `postMessage` round trip (hand-written worker, `ping`)', u.postMessageRoundTrip, 'the floor of any worker call'],
    [
      'comlink round trip, no arguments (`noop()`)',
      u.comlinkNoopRoundTrip,
      'comlink adds its message wrapping and a `MessageChannel` reply path',
    ],
    ['comlink round trip carrying one raw row both ways (`echo(row)`)', u.comlinkEchoRow, 'structured clone of the row in both directions'],
    ['comlink round trip carrying one prediction both ways', u.comlinkEchoPrediction, ''],
    ['`structuredClone(row)` on the main thread', u.structuredCloneRow, 'the clone alone is cheap'],
    ['`structuredClone(prediction)` on the main thread', u.structuredClonePrediction, ''],
    ["validation + features for one row, on the main thread (ondevice's own `prepare()`)", u.validateAndFeaturesInPage, 'no messaging'],
    ['ondevice `features([row])` (worker round trip + the above)', u.ondeviceFeaturesCall, ''],
    ['raw `session.run` on one ready row, main thread', u.sessionRunMainOneRow, 'onnxruntime-web with the same threads as ondevice'],
    [
      'raw `session.run` on one ready row in a worker, incl. the postMessage round trip',
      u.sessionRunWorkerOneRow,
      `≈ ${us(Math.max(0, u.sessionRunWorkerOneRow - u.postMessageRoundTrip))} once the round trip is taken off`,
    ],
    ['the same worker with onnxruntime-web on 1 thread', u.sessionRunWorkerOneRowOneThread, ''],
    ['ondevice `predict(row)` (defaults: micro-batching on)', u.ondevicePredict, ''],
    ['ondevice `predict(row)`, `batching: false`', u.ondevicePredictUnbatched, ''],
    ['ondevice `predict(row)`, `threads: 1`', u.ondevicePredictOneThread, ''],
    ['ondevice `predictBatch([row])`', u.ondevicePredictBatchOfOne, ''],
  ];
  const inWorkerRun = Math.max(0, u.sessionRunWorkerOneRow - u.postMessageRoundTrip);
  const inWorkerRunOneThread = Math.max(0, u.sessionRunWorkerOneRowOneThread - u.postMessageRoundTrip);
  const explained = u.comlinkEchoRow + u.validateAndFeaturesInPage + inWorkerRun;
  const rest =
    explained >= u.ondevicePredict
      ? `These three parts add up to ${us(explained)}, a little more than the call itself: each was timed with its own round trip and scheduling, so they overlap; ondevice's own bookkeeping (micro-batcher, leases, per-row answer objects) is lost in that noise.`
      : `These three parts add up to ${us(explained)}; the remaining ${us(u.ondevicePredict - explained)} is ondevice's own bookkeeping (micro-batcher, leases, per-row answer objects) and scheduling.`;
  return `## Where the time goes: ${b.model} (one row, fixed costs)

Each part timed on its own, ${count(b.calls)} calls each after a warm-up, mean per call (isolated page).

${table(
  ['part', 'µs per call', 'note'],
  rows.map(([part, value, note]) => [part, us(value), note]),
)}

Reading it: ondevice's \`predict()\` takes ${us(u.ondevicePredict)}. Of that, a comlink round trip carrying a row is
${us(u.comlinkEchoRow)} (${us(u.comlinkNoopRoundTrip)} with nothing in it; a bare postMessage round trip is ${us(u.postMessageRoundTrip)}),
validation and features ${us(u.validateAndFeaturesInPage)}, and one \`session.run\` inside a worker about ${us(inWorkerRun)} beyond a bare round
trip (${us(inWorkerRunOneThread)} with one thread; the same call on the main thread takes ${us(u.sessionRunMainOneRow)}). ${rest} For a model this
small, the arithmetic is a sliver of a call: the worker hop and what a \`session.run\` costs inside a worker are nearly all of it,
and no library on the far side of a worker can answer one row much faster than the ${us(u.sessionRunWorkerOneRow)} of the hand-written
worker (b).
`;
}

function notIsolatedSection(results: BenchResults): string {
  const plain = results.notIsolated;
  const env = results.environment.pageNotIsolated;
  if (plain === undefined || env === undefined) return '';
  const rows = latencyRows(plain);
  const batchRows: string[][] = [];
  for (const [name, model] of Object.entries(plain)) {
    if (model.batch === undefined) continue;
    const all = entries(model.batch.results);
    const best = Math.max(...all.filter(([id]) => isRival(id)).map(([, r]) => r.rowsPerSecond));
    for (const [id, r] of all)
      batchRows.push([
        name,
        id === 'ondevice' ? '**ondevice** `predictBatch(rows)`' : LABELS[id],
        time(r.medianMs),
        count(r.rowsPerSecond),
        ratio(r.rowsPerSecond, best),
      ]);
  }
  const threads = Object.values(plain)[0]?.setup.runtime.threads ?? 1;
  return `## Without cross-origin isolation

The same page served without COOP/COEP (\`/plain/\`): \`crossOriginIsolated\` = ${env.crossOriginIsolated}, no
SharedArrayBuffer, so onnxruntime-web runs on ${threads} thread(s) everywhere, and \`performance.now()\` steps by
${time(env.timerResolutionMs)}, too coarse for per-call percentiles: only the loop mean is given. ondevice's shard workers need no
SharedArrayBuffer: its ${count(results.parameters.batchRows)}-row batches are still split across them here, while each rival runs one session on one thread.

${table(['model', 'contestant', 'mean per call', 'p50', 'p99', '× best rival (mean)'], rows)}

${table(['model', 'contestant', `median time, ${count(results.parameters.batchRows)} rows`, 'rows/s', '× best rival (rows/s)'], batchRows)}
`;
}

function cliSection(results: BenchResults): string {
  const c = results.cli;
  if (c === undefined) return '';
  const o = c.ondevice;
  const rss = (kib: number | null): string => (kib === null ? '?' : mebibytes(kib * 1024));
  const rows = [
    [
      '**ondevice** `ondevice score` (Node, worker thread)',
      count(Math.round(o.medianRowsPerSecond)),
      o.runs.map((r) => count(r.rowsPerSecond)).join(', '),
      time(median(o.runs.map((r) => r.processMs))),
      rss(median(o.runs.map((r) => r.maxRssKiB ?? 0)) || null),
    ],
  ];
  const p = c.pandas;
  if ('runs' in p)
    rows.push([
      'pandas `read_csv` + scikit-learn `predict` + `to_csv`',
      count(Math.round(p.medianRowsPerSecond)),
      p.runs.map((r) => count(Math.round(r.rows / r.seconds))).join(', '),
      '—',
      '—',
    ]);
  const ratioLine =
    'runs' in p
      ? `ondevice scores ${(o.medianRowsPerSecond / p.medianRowsPerSecond).toFixed(2)}× the rows per second of pandas + scikit-learn.`
      : `pandas + scikit-learn: not measured: ${p.skipped}.`;
  const t = c.ondeviceTenfold;
  return `## 6. \`ondevice score\`: a ${count(c.rows)}-row CSV file, rows/s

The Ames file (\`models/house-prices/data/ames.csv\`, ${count(2930)} rows, 82 columns, R's quoting) repeated to ${count(c.rows)} data rows
(${mebibytes(c.fileBytes)}), scored with the packed house-prices-gradient-boosting bundle: \`node dist/lib/cli/main.js score <bundle> <file> --out <file>\`,
${o.runs.length} runs, each a new process. Its rows/s are what the CLI reports: the rows over the time from the first byte read to the
last byte written (load, verification and gate come before, in "process"). The rival, \`bench/cli/pandas_rival.py\`, fits the same
pipeline as \`models/house-prices/train.py\` (its preprocessing, a 200-tree GradientBoostingRegressor, the log target) once, then
times reading the file with pandas, \`predict\` and writing the input's columns plus \`prediction\` with \`to_csv\`, ${'runs' in p ? `${p.runs.length} times in one process (fit ${p.fitSeconds.toFixed(1)} s, not counted; ${p.versions})` : 'when it can run'}.

${table(['contestant', 'rows/s (median)', 'each run', 'process (median)', 'peak memory'], rows)}

${ratioLine} Memory does not grow with the file: the same file ten times over (${count(t.rows)} rows,
${mebibytes(t.fileBytes)}) was scored at ${count(t.rowsPerSecond)} rows/s with a peak of ${rss(t.maxRssKiB)} (the process holds a batch
being read, one being scored and one being written; the rest of its memory is Node, onnxruntime-web's WebAssembly heap and the bundle).
`;
}

export function renderReadme(results: BenchResults, file: string): string {
  const env = results.environment;
  const p = results.parameters;
  const net = results.network;
  const main = Object.values(results.models)[0];
  const threads = main?.setup.runtime.threads ?? 1;

  const latency = table(['model', 'contestant', 'mean per call', 'p50', 'p99', '× best rival (mean)'], latencyRows(results.models));

  const concurrentRows: string[][] = [];
  const batching: string[] = [];
  for (const [name, model] of Object.entries(results.models)) {
    const c = model.concurrent;
    if (c === undefined) continue;
    const all = entries(c.results);
    const best = Math.min(...all.filter(([id]) => isRival(id)).map(([, r]) => r.medianMs));
    for (const [id, r] of all) {
      const how = id.startsWith('ondevice') ? 'all fired, then awaited' : 'each awaited in turn';
      concurrentRows.push([name, LABELS[id], how, time(r.medianMs), time(r.medianMs / c.calls), ratio(r.medianMs, best)]);
    }
    batching.push(
      `${name}: ${c.ondeviceRunsPerRepetition === null ? '?' : count(c.ondeviceRunsPerRepetition)} model runs with micro-batching, ${c.ondeviceUnbatchedRunsPerRepetition === null ? '?' : count(c.ondeviceUnbatchedRunsPerRepetition)} without`,
    );
  }

  const batchRows: string[][] = [];
  const skipped: string[] = [];
  for (const [name, model] of Object.entries(results.models)) {
    const b = model.batch;
    if (b === undefined) continue;
    const all = entries(b.results);
    const best = Math.max(...all.filter(([id]) => isRival(id)).map(([, r]) => r.rowsPerSecond));
    for (const [id, r] of all)
      batchRows.push([
        name,
        id === 'ondevice' ? '**ondevice** `predictBatch(rows)`' : LABELS[id],
        time(r.medianMs),
        count(r.rowsPerSecond),
        ratio(r.rowsPerSecond, best),
      ]);
    for (const [id, why] of Object.entries(b.skipped)) skipped.push(`${name} / ${id}: ${why}`);
  }

  // Where predictBatch(rows)'s time goes, and what changed between its repetitions.
  const batchNotes: string[] = [];
  for (const [name, model] of Object.entries(results.models)) {
    const b = model.batch;
    const ondevice = b?.results.ondevice;
    if (b === undefined || ondevice === undefined) continue;
    const ref = b.reference;
    const runs = ondevice.runsMs;
    const growth =
      runs.length > 1 && runs[runs.length - 1]! > 1.5 * runs[0]!
        ? ` Its repetitions took ${runs.map(time).join(', ')}: it got slower each time it scored another ${count(b.rows)} rows in the same worker.`
        : '';
    const columns = b.results['ondevice-columns'];
    let remainder = '';
    if (columns !== undefined) {
      const extra = ondevice.medianMs - columns.medianMs;
      // What cloning rows in (about twice a main-thread clone: write and read) and answers out would cost:
      // the row path (from 256 rows) turns them into columns and typed answers into objects instead.
      const clones = 2 * ref.structuredCloneRowsMs + ref.structuredClonePredictionsMs;
      remainder =
        extra < 0.1 * ondevice.medianMs
          ? ` \`predictColumns\` (same rows, same model run, typed arrays instead of objects) took about as long, ${time(columns.medianMs)}: here the time goes into the model run inside ondevice, not into the row objects.`
          : ` \`predictColumns\` (same rows, same model run, typed arrays instead of objects) took ${time(columns.medianMs)}: the row-object path costs ${time(extra)} more, spent on the main thread turning the rows into columns and the typed answers into objects, less the worker's feature work that overlaps it (structured-cloning rows in and answers out instead would cost about ${time(clones)}).`;
    }
    if (b.shards !== undefined && b.shards !== null) {
      const s = b.shards;
      batchNotes.push(
        `- ${name}: ondevice's shards after the repetitions: ${s.workers} workers, \`${s.state}\`, ${count(s.batches)} batches scored by them${s.reason === undefined ? '' : ` (${s.reason})`}.`,
      );
    }
    batchNotes.push(
      `- ${name}: \`predictBatch(rows)\` ${time(ondevice.medianMs)} (median). On the main thread, \`structuredClone\` of the ${count(b.rows)} rows takes ${time(ref.structuredCloneRowsMs)} (the worker pays again to read them), ondevice's own validation + features over them ${time(ref.prepareRowsMs)}, and cloning the ${count(b.rows)} answers ${time(ref.structuredClonePredictionsMs)}; \`features(rows)\` through the worker (rows in, matrix out, no model run) ${time(ref.featuresCallMs)}.${remainder}${growth}`,
    );
    const rival = b.results['tfjs-wasm'];
    if (rival !== undefined && ondevice.rowsPerSecond < 0.1 * rival.rowsPerSecond) {
      batchNotes.push(
        `- ${name}: ondevice's TensorFlow.js batch runs at ${count(ondevice.rowsPerSecond)} rows/s against the rival's ${count(rival.rowsPerSecond)}. The rival calls \`model.predict(x, { batchSize: rows })\`; with TF.js's default \`batchSize\` (32) a ${count(b.rows)}-row input is cut into ${count(Math.ceil(b.rows / 32))} slices and concatenated again, which costs far more than the model.`,
      );
    }
  }

  const startRows: string[][] = [];
  for (const [name, s] of Object.entries(results.starts)) {
    startRows.push(startRow(name, 'ondevice', 'cold (first visit)', s.ondevice.cold, s.ortMain?.cold));
    startRows.push(startRow(name, 'ondevice', 'warm (from Cache Storage)', s.ondevice.warm, s.ortMain?.warm));
    startRows.push(startRow(name, 'ondevice', 'warm, default background update check', s.ondevice.warmWithUpdateCheck, s.ortMain?.warm));
    if (s.ortMain !== undefined) {
      startRows.push(startRow(name, '(a) onnxruntime-web, main thread', 'cold', s.ortMain.cold, s.ortMain.cold));
      startRows.push(
        startRow(name, '(a) onnxruntime-web, main thread', 'warm (HTTP cache, model revalidated)', s.ortMain.warm, s.ortMain.warm),
      );
    }
  }
  const firstStart = Object.entries(results.starts)[0];
  let warmNote = '';
  if (firstStart !== undefined) {
    const [name, s] = firstStart;
    const asked = [...new Set(s.ondevice.warm.browserRequests)].map((u) => `\`${u.replace(/^\/assets\//, '')}\``).join(', ');
    warmNote =
      s.ondevice.warm.requests.length === 0
        ? `In ondevice's warm start (${name}) nothing reached the server: the bundle came from Cache Storage, and the browser asked for ${asked} (Playwright's request events, workers included), all answered by its HTTP cache (immutable \`assets/\`), the 14 MB onnxruntime .wasm included.`
        : `In ondevice's warm start (${name}) ${s.ondevice.warm.requests.length} request(s) reached the server (${s.ondevice.warm.bundleRequests} for bundle files): ${s.ondevice.warm.requests.map((r) => r.path).join(', ')}.`;
  }

  const sizes = results.sizes;
  const sizeRows = [
    [
      "main thread: `import { load } from 'ondevice'`",
      sizes.mainThread.files.join(', '),
      bytes(sizes.mainThread.minBytes),
      bytes(sizes.mainThread.gzipBytes),
    ],
    [
      'worker without runtimes (entry chunk + static imports)',
      sizes.workerWithoutRuntimes.files.join(', '),
      bytes(sizes.workerWithoutRuntimes.minBytes),
      bytes(sizes.workerWithoutRuntimes.gzipBytes),
    ],
    ...sizes.onDemand.map((f) => [
      `on demand: ${f.name.replace(/-[\w-]{8}(\.\w+)$/, '$1')}`,
      f.name,
      bytes(f.minBytes),
      bytes(f.gzipBytes),
    ]),
  ];

  const agreement = Object.entries(results.models)
    .map(
      ([name, m]) =>
        `${name}: features ${m.setup.featureMaxAbsDiff.toExponential(1)}; ${Object.entries(m.setup.predictionMaxDiff)
          .map(([id, d]) => `${id} ${d.toExponential(1)}`)
          .join(', ')}`,
    )
    .join('; ');

  return `# Benchmark: ondevice against its rivals

<!-- Generated by \`npm run bench\` (bench/run.ts, text in bench/report.ts). Do not edit by hand. -->

One run, ${results.startedAt.slice(0, 19).replace('T', ' ')} UTC, ${results.durationS.toFixed(0)} s: headless Chromium ${env.chromium},
${env.cpus} cores (${env.cpuModel}), ${(env.memoryBytes / 2 ** 30).toFixed(0)} GiB, ${env.platform}; page cross-origin isolated:
**${env.page.crossOriginIsolated ? 'yes' : 'no'}** (timer step ${time(env.page.timerResolutionMs)}); onnxruntime-web WASM threads: **${threads}**
(ondevice's default, min(4, cores) when isolated; every onnxruntime-web rival was given the same). Library at
${env.gitCommit?.slice(0, 10) ?? 'unknown commit'}${env.gitDirty === true ? ' with uncommitted changes in src/' : ''}; onnxruntime-web ${env.packages['onnxruntime-web']},
TensorFlow.js ${env.packages['@tensorflow/tfjs-core']}, comlink ${env.packages.comlink}, Vite ${env.packages.vite}. Load average ${env.loadAverage.start.toFixed(2)} at the
start, ${env.loadAverage.end.toFixed(2)} at the end (other work on the machine skews every figure). Raw numbers: \`${file}\`
(bench/results/ is git-ignored; this README is the record).

## Run it

\`\`\`sh
npm run bench                         # packs the models, then npx tsx bench/run.ts
BENCH_QUICK=1 npx tsx bench/run.ts    # small counts: checks the harness, keeps this README
npx vite build -c bench/vite.config.ts && npx vite preview -c bench/vite.config.ts   # the page by hand (window.bench)
\`\`\`

\`bench/run.ts\` builds the page (\`bench/vite.config.ts\` -> \`dist/bench\`, \`bench/public/\` as its public folder, so the packed
bundles are served), serves it with \`bench/server.ts\` (loopback, a free port; gzip like a production host; content-hashed
\`assets/\` cached for a year, everything else \`no-cache\` + ETag; COOP/COEP at \`/\`, none at \`/plain/\`; a log of every request
that reaches it), launches Chromium, and calls the page's \`window.bench\` functions one figure at a time.

## Who is measured

ondevice takes **raw rows** (validation, the feature spec, scoring, the worker hop and the result objects are all inside its
figures), and is loaded with \`variant: 'none'\`: it scores the bundle's main model, as the rivals do (house-prices-mlp-onnx
would otherwise serve its int8 variant). Every rival is handed a **ready feature tensor**: the research pipeline's own features for the confidence-set rows
(\`models/<m>/build/parity.json\`), in the model's input dtype, scored with the bundle's own \`model.onnx\` (or \`model.json\` +
\`weights.bin\`). So a ratio is the price of ondevice's whole pipeline against a bare runtime call. All contestants agree (max
|difference| / max(1, |value|) against ondevice's output on the confidence set): ${agreement}.

| id | contestant |
|---|---|
| \`ondevice\` | ondevice with its defaults (micro-batching on, prediction cache off): \`predict(row)\`, \`predictBatch(rows)\` |
| \`ondevice-unbatched\` | ondevice loaded with \`batching: false\`: every \`predict()\` is its own message and model run |
| \`ondevice-columns\` | ondevice \`predictColumns(columns)\`: typed-array columns in (categories dictionary-encoded: \`{ codes: Int32Array, levels }\`), typed arrays out, transferred |
| \`ort-main\` | (a) onnxruntime-web (\`onnxruntime-web/wasm\`) on the main thread: \`session.run\` on a ready tensor |
| \`ort-worker\` | (b) onnxruntime-web in a hand-written worker: the feature Float32Array/Float64Array transferred in, the output transferred out, no comlink |
| \`ort-proxy\` | (c) onnxruntime-web's own proxy worker (\`env.wasm.proxy = true\`), from a second instance of the module so that (a) keeps its own \`env\` |
| \`tfjs-wasm\` | (d) TensorFlow.js (\`tfjs-core\` + \`tfjs-layers\` + \`tfjs-backend-wasm\`, single-threaded, SIMD) on the main thread, on the bundle's \`model.json\`/\`weights.bin\` |
| \`comlink-worker\` | (e) a plain comlink worker around a raw session: \`score(row)\`, one row per call, each awaited |

Ratios: **× best rival** is the figure divided by the best rival's figure for the same model. For times, above 1 means slower
than the best rival; for rows/s, below 1 means fewer rows per second.

## 1. Single-call latency

${count(p.latencyCalls)} sequential awaited calls per contestant (after ${p.latencyWarmup} untimed), cycling through the confidence rows.
The mean is the loop's total divided by the calls; p50/p99 are per call (the page is isolated, so the timer is fine enough).

${latency}

## 2. ${count(p.concurrentCalls)} concurrent \`predict()\` calls

ondevice: ${count(p.concurrentCalls)} \`predict(row)\` fired in one go, then all awaited (micro-batching on by default; and with
\`batching: false\`). Rivals with a one-row API: ${count(p.concurrentCalls)} calls, each awaited before the next. Median of
${p.concurrentRepetitions} repetitions after an untimed one (each from a collected page heap, as in §3); distinct row objects (structured clone would send a repeated object once).
Before any figure of a model, every contestant runs the ${count(p.batchRows)}-row batch and a burst of ${count(p.concurrentCalls)} calls once, untimed: V8
compiles a runtime's hot WASM with its optimizing tier in the background, and until it has, bursts run on baseline code (ondevice's
first bursts of ${count(p.concurrentCalls)} calls on the gradient-boosting model took 2 to 3 times their later time on this machine). The figures here are the
steady state of a page that has been serving a while.

${table(['model', 'contestant', 'how', `total for ${count(p.concurrentCalls)}`, 'per call', '× best rival'], concurrentRows)}

Model runs in the worker for ${count(p.concurrentCalls)} calls (\`info().stats\`): ${batching.join('; ')}.

## 3. ${count(p.batchRows)}-row batch, rows/s

The confidence-set rows tiled to ${count(p.batchRows)}. ondevice end to end from raw inputs: \`predictBatch(rows)\` (row objects
in, prediction objects out; from 256 plain rows ondevice turns them into columns on the main thread and the worker's typed answers
into objects, instead of structured-cloning either; from 16,384 rows it sends the columns in parts of 8,192, which the worker
validates and writes into the model input while the main thread lays out the next) and \`predictColumns(columns)\` (typed-array columns, transferred both ways;
categories dictionary-encoded, \`{ codes: Int32Array, levels }\`; the columns are built before the clock starts). ondevice splits a
batch of 8,192 rows or more by rows across its **shard workers** (the \`shards\` option: by default one per core, up to 4; each holds
its own one-thread onnxruntime-web session of the model), which the first such batch starts (here the untimed run) and which serve once
they have matched the worker's own session on that batch's first rows. \`predictColumns\` sends each shard its rows of the columns,
and the shard validates them, computes their features and scores them; \`predictBatch(rows)\` sends each shard its rows of the model
input the worker wrote part by part. Two one-thread sessions on half the rows each finish sooner than one session splitting each
operator across two threads: that is ondevice's gain over the rivals' single \`session.run\`, and a hand-written app could make it too
by splitting its batch across workers of its own. Rivals: one \`session.run\` on the ready ${count(p.batchRows)} x F tensor, the output
read back (for (b) and (c) the tensor is transferred, so each run gets a copy made before the clock starts; (d) calls
\`model.predict(x, { batchSize: rows })\`, one batch). Median of ${p.batchRepetitions} repetitions after an untimed one, taken in
turns (each round times every contestant once, so a slow spell of the machine falls on all of them), each
started from a collected page heap (\`gc()\` under \`--expose-gc\`, then 50 ms of quiet), for every contestant alike; a
contestant whose first run takes over 5 s is timed once, that first run (its repetitions would not fit the run's budget).

${table(['model', 'contestant', 'median time', 'rows/s', '× best rival (rows/s)'], batchRows)}
${skipped.length > 0 ? `\nNot measured: ${skipped.join('; ')}.\n` : ''}
Where ondevice's row-object path spends its time (each part timed alone, on the main thread unless said):

${batchNotes.join('\n')}

## 4. Cold and warm start, ${net.downloadBitsPerSecond / 1e6} Mbit/s and ${net.latencyMs} ms

From calling \`load()\` to the first prediction's answer (for the rival: importing onnxruntime-web, fetching \`model.onnx\`,
creating the session, one \`session.run\`). **Cold**: a fresh browser context (empty HTTP cache and Cache Storage).
**Warm**: a new page in the same context (ondevice: \`checkForUpdates: false\`; and once with the default, which checks the
channel in the background after answering — measured with ${'1.5 s'} of settle time). "Requests" are those that reached the
server; "bytes" are bytes on the wire (gzip where the server compresses: .js, .json, .wasm; not .onnx).

${table(['model', 'contestant', 'start', 'load() -> first prediction', 'requests', 'of which bundle files', 'bytes on the wire', '× rival (a), same start', 'what reached the server'], startRows)}

${warmNote}

**How the network was emulated, workers included.** \`Network.emulateNetworkConditions\` (download ${net.downloadBitsPerSecond / 8} B/s,
upload ${net.uploadBitsPerSecond / 8} B/s, latency ${net.latencyMs} ms) on a CDP session of the page's target
(\`page.context().newCDPSession(page)\`). Chromium applies a frame's emulated conditions to its dedicated workers' requests as
well: the run checks it each time by fetching the same ${bytes(net.check.bytes)} file (\`no-store\`) from the page and from a fresh
dedicated worker. Throttled: page ${time(net.check.throttled.pageMs)}, worker ${time(net.check.throttled.workerMs)} (expected ≈
${time(net.check.expectedThrottledMs)}); unthrottled: page ${time(net.check.unthrottled.pageMs)}, worker ${time(net.check.unthrottled.workerMs)}. So no throttling
server was needed: the worker's own requests (its fetches of the bundle and its module imports) go through the same emulated
link as the page's.

## 5. Bundle sizes

${sizes.method}. The main-thread figure is what \`import { load } from 'ondevice'\` adds to an app; the worker figure is its entry
chunk and static imports, before any runtime is imported on demand.

${table(['piece', 'files', 'minified', 'min+gzip'], sizeRows)}

${cliSection(results)}
${breakdownSection(results)}
${notIsolatedSection(results)}
## Caveats

- One run on one machine, not a distribution over runs; repetitions are few to keep a run near ${Math.ceil(results.durationS / 60)} minutes on ${env.cpus} cores.
- With ${env.cpus} cores, ${threads} onnxruntime-web threads plus the page's own thread compete for the CPU: the long p99 tails above
  come from that. The table without isolation (one thread everywhere) is the same page on the same machine to compare with.
- Page errors seen during the run: ${results.pageErrors.length === 0 ? 'none' : results.pageErrors.map((e) => `\`${e}\``).join('; ')}.
`;
}

// `npx tsx bench/report.ts [results.json]`: renders bench/README.md again from a run's results
// (default bench/results/latest.json), e.g. after changing the text here, without measuring again.
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2] ?? 'bench/results/latest.json';
  const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
  const readme = fileURLToPath(new URL('./README.md', import.meta.url));
  const stamp = `bench/results/${results.startedAt.replace(/[:.]/g, '-')}.json`;
  writeFileSync(readme, renderReadme(results, stamp));
  console.log(`bench/README.md rendered from ${file}`);
}
