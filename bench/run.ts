// `npm run bench` (after `npm run pack:models`): builds the bench page, serves it, drives it in headless
// Chromium, writes bench/results/<timestamp>.json and latest.json, and regenerates bench/README.md.
// BENCH_QUICK=1 runs every figure with small counts (a smoke test of the harness, not a result).
// BENCH_BATCH_ONLY=<model> times only that model's 100k-row batch (9 repetitions, after one untimed round) and prints it: for
// working on the batch path; it writes nothing.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { build } from 'vite';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../e2e/support/chromium.js';
import type { RivalId, StartResult } from './protocol.js';
import { renderReadme } from './report.js';
import type { BenchResults, ModelResults, RequestSummary, StartPhase, StartResults } from './results-types.js';
import { PLAIN_PREFIX, startBenchServer, type BenchServer } from './server.js';
import { cliFigures } from './cli/score-bench.js';
import { measureSizes } from './sizes.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const quick = process.env.BENCH_QUICK === '1';
const batchOnly = process.env.BENCH_BATCH_ONLY;

const PARAMETERS = {
  latencyCalls: quick ? 50 : 500,
  latencyWarmup: quick ? 10 : 50,
  concurrentCalls: quick ? 1_000 : 10_000,
  concurrentRepetitions: quick ? 1 : 3,
  batchRows: quick ? 10_000 : 100_000,
  // Nine, not five: the 100k figures swing ±15% run to run here, and a median of nine moves less.
  batchRepetitions: quick ? 1 : 9,
  breakdownCalls: quick ? 200 : 2_000,
} as const;

/** 20 Mbit/s down and up, 40 ms added to every request, as DevTools' emulation applies it. */
const NETWORK = { downloadBitsPerSecond: 20e6, uploadBitsPerSecond: 20e6, latencyMs: 40 } as const;

const ORT_RIVALS: readonly RivalId[] = ['ort-main', 'ort-worker', 'ort-proxy', 'comlink-worker'];

interface ModelPlan {
  readonly name: string;
  /** The build folder: parity.json holds the research features of the confidence rows. */
  readonly build: string;
  readonly rivals: readonly RivalId[];
  readonly breakdown?: boolean;
  readonly starts?: boolean;
}

const MODELS: readonly ModelPlan[] = [
  { name: 'house-prices-gradient-boosting', build: 'models/house-prices/build/gradient-boosting', rivals: ORT_RIVALS, starts: true },
  { name: 'penguins', build: 'models/penguins/build', rivals: ORT_RIVALS, breakdown: true, starts: true },
  { name: 'house-prices-mlp-onnx', build: 'models/house-prices/build/mlp-onnx', rivals: ORT_RIVALS },
  { name: 'house-prices-mlp-tfjs', build: 'models/house-prices/build/mlp-tfjs', rivals: ['tfjs-wasm'] },
];

// The bench collects the page heap between repetitions.
const BENCH_CHROMIUM_ARGS = [...CHROMIUM_ARGS, '--js-flags=--expose-gc'];

const log = (message: string): void => console.log(`[bench ${((performance.now() - t0) / 1000).toFixed(1)}s] ${message}`);
const t0 = performance.now();
const pageErrors: string[] = [];

function readJson(path: string): unknown {
  return JSON.parse(readFileSync(join(root, path), 'utf8')) as unknown;
}

function researchFeatures(plan: ModelPlan): number[][] {
  const parity = readJson(`${plan.build}/parity.json`) as { features: number[][] };
  return parity.features;
}

function confidenceRow(plan: ModelPlan): Record<string, unknown> {
  return (readJson(`${plan.build}/confidence-set.json`) as { rows: Record<string, unknown>[] }).rows[0]!;
}

function liveVersion(name: string): string {
  return (readJson(`bench/public/bundles/${name}/channel.json`) as { live: { version: string } }).live.version;
}

function modelDtype(plan: ModelPlan): 'float32' | 'float64' {
  return (readJson(`${plan.build}/feature-spec.json`) as { output: { dtype: 'float32' | 'float64' } }).output.dtype;
}

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

function packageVersion(name: string): string {
  return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

async function openPage(context: BrowserContext, origin: string, prefix = '/'): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`${page.url()}: console: ${message.text()}`);
  });
  await page.goto(`${origin}${prefix}index.html`);
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
  return page;
}

/**
 * DevTools network emulation on the page's target. Chromium applies a frame's emulated conditions to
 * the requests of its dedicated workers too; the run checks this (network.check in the results) by
 * timing the same fetch from the page and from a worker.
 */
async function throttle(page: Page): Promise<() => Promise<void>> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: NETWORK.latencyMs,
    downloadThroughput: NETWORK.downloadBitsPerSecond / 8,
    uploadThroughput: NETWORK.uploadBitsPerSecond / 8,
  });
  return async () => {
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
  };
}

/** Runs `action` on a throttled page and records what reached the server and what the browser asked for meanwhile. */
async function measuredStart<T>(
  server: BenchServer,
  page: Page,
  action: () => Promise<T>,
  settleMs = 0,
): Promise<{ result: T; requests: RequestSummary[]; browserRequests: string[] }> {
  const unthrottle = await throttle(page);
  const browserRequests: string[] = [];
  const onRequest = (request: { url(): string }): void => void browserRequests.push(new URL(request.url()).pathname);
  page.context().on('request', onRequest);
  const mark = server.log.length;
  const result = await action();
  // A background update check runs after the start has answered: give it time to show.
  if (settleMs > 0) await page.waitForTimeout(settleMs);
  const requests = server.log.slice(mark).map(({ path, status, wireBytes, encoding }) => ({ path, status, wireBytes, encoding }));
  page.context().off('request', onRequest);
  await unthrottle();
  return { result, requests, browserRequests };
}

function phase(measured: { result: StartResult; requests: RequestSummary[]; browserRequests: string[] }): StartPhase {
  return {
    ...measured.result,
    requests: measured.requests,
    wireBytes: measured.requests.reduce((sum, r) => sum + r.wireBytes, 0),
    bundleRequests: measured.requests.filter((r) => r.path.startsWith('/bundles/')).length,
    browserRequests: measured.browserRequests,
  };
}

async function starts(browser: Browser, server: BenchServer, plan: ModelPlan, threads: number): Promise<StartResults> {
  const row = confidenceRow(plan);
  // A fresh context: empty HTTP cache and Cache Storage, as a first visit.
  const context = await browser.newContext();
  try {
    let page = await openPage(context, server.origin);
    const cold = phase(
      await measuredStart(server, page, () =>
        page.evaluate(([m, r]) => window.bench.startOndevice(m, r, false), [plan.name, row] as const),
      ),
    );
    await page.close();
    // A later visit: a new page in the same context (same HTTP cache and Cache Storage).
    page = await openPage(context, server.origin);
    const warm = phase(
      await measuredStart(server, page, () =>
        page.evaluate(([m, r]) => window.bench.startOndevice(m, r, false), [plan.name, row] as const),
      ),
    );
    await page.close();
    page = await openPage(context, server.origin);
    const warmWithUpdateCheck = phase(
      await measuredStart(
        server,
        page,
        () => page.evaluate(([m, r]) => window.bench.startOndevice(m, r, true), [plan.name, row] as const),
        1_500,
      ),
    );
    await page.close();
    if (!plan.rivals.includes('ort-main')) return { ondevice: { cold, warm, warmWithUpdateCheck } };
    {
      const rivalContext = await browser.newContext();
      try {
        const modelUrl = `bundles/${plan.name}/${liveVersion(plan.name)}/model.onnx`;
        const features = researchFeatures(plan)[0]!;
        const dtype = modelDtype(plan);
        const run = async (): Promise<StartPhase> => {
          const rivalPage = await openPage(rivalContext, server.origin);
          const measured = phase(
            await measuredStart(server, rivalPage, () =>
              rivalPage.evaluate(([u, f, d, t]) => window.bench.startOrtMain(u, f, d, t), [modelUrl, features, dtype, threads] as const),
            ),
          );
          await rivalPage.close();
          return measured;
        };
        const rivalCold = await run();
        return { ondevice: { cold, warm, warmWithUpdateCheck }, ortMain: { cold: rivalCold, warm: await run() } };
      } finally {
        await rivalContext.close();
      }
    }
  } finally {
    await context.close();
  }
}

async function modelFigures(page: Page, plan: ModelPlan, options: { concurrent: boolean; breakdown: boolean }): Promise<ModelResults> {
  const p = PARAMETERS;
  log(`${plan.name}: setup`);
  const setup = await page.evaluate((input) => window.bench.setup(input), {
    model: plan.name,
    researchFeatures: researchFeatures(plan),
    rivals: plan.rivals,
  });
  // Untimed, every contestant once through the batch and burst paths: V8 compiles a runtime's hot WASM
  // with its optimizing tier in the background, and until it has, the first bursts run on baseline code.
  log(`${plan.name}: warm-up (untimed)`);
  await page.evaluate(([n]) => window.bench.batch(n, 1), [p.batchRows] as const);
  if (options.concurrent) await page.evaluate(([n]) => window.bench.concurrent(n, 1), [p.concurrentCalls] as const);
  log(`${plan.name}: latency (${p.latencyCalls} sequential calls each)`);
  const latency = await page.evaluate(([n, w]) => window.bench.latency(n, w), [p.latencyCalls, p.latencyWarmup] as const);
  let concurrent;
  if (options.concurrent) {
    log(`${plan.name}: ${p.concurrentCalls} concurrent predict()`);
    concurrent = await page.evaluate(([n, r]) => window.bench.concurrent(n, r), [p.concurrentCalls, p.concurrentRepetitions] as const);
  }
  log(`${plan.name}: ${p.batchRows}-row batch`);
  const batch = await page.evaluate(([n, r]) => window.bench.batch(n, r), [p.batchRows, p.batchRepetitions] as const);
  let breakdown;
  if (options.breakdown) {
    log(`${plan.name}: where the time goes`);
    breakdown = await page.evaluate((n) => window.bench.breakdown(n), p.breakdownCalls);
  }
  await page.evaluate(() => window.bench.teardown());
  return { setup, latency, batch, ...(concurrent ? { concurrent } : {}), ...(breakdown ? { breakdown } : {}) };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadAtStart = loadavg()[0]!;
  // Every figure is CPU-bound: other work on the machine (a test run, a build) shows up in them.
  if (loadAtStart > 0.5 * cpus().length)
    log(`warning: load average ${loadAtStart.toFixed(2)} on ${cpus().length} cores: the figures will be noisy`);
  if (!existsSync(join(root, 'bench/public/bundles')))
    throw new Error('bench/public/bundles is missing: run `npm run pack:models` first (npm run bench does)');
  log('building the bench page (bench/vite.config.ts -> dist/bench)');
  await build({ configFile: join(root, 'bench/vite.config.ts'), logLevel: 'warn' });
  log('measuring bundle sizes');
  const sizes = await measureSizes();

  const server = await startBenchServer(join(root, 'dist/bench'));
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: BENCH_CHROMIUM_ARGS });
  try {
    log(`serving ${server.origin}; Chromium ${browser.version()}`);
    const context = await browser.newContext();
    const page = await openPage(context, server.origin);
    const environment = await page.evaluate(() => window.bench.environment());
    log(
      `page: crossOriginIsolated=${environment.crossOriginIsolated}, cores=${environment.hardwareConcurrency}, timer ${environment.timerResolutionMs} ms`,
    );

    if (batchOnly !== undefined) {
      const plan = MODELS.find((m) => m.name === batchOnly);
      if (plan === undefined) throw new Error(`BENCH_BATCH_ONLY: no model "${batchOnly}" (${MODELS.map((m) => m.name).join(', ')})`);
      await page.evaluate((input) => window.bench.setup(input), {
        model: plan.name,
        researchFeatures: researchFeatures(plan),
        rivals: plan.rivals,
      });
      // Once untimed: every runtime's WASM is still being tiered up in the background after setup.
      await page.evaluate(([n, r]) => window.bench.batch(n, r), [PARAMETERS.batchRows, 1] as const);
      const batch = await page.evaluate(([n, r]) => window.bench.batch(n, r), [PARAMETERS.batchRows, PARAMETERS.batchRepetitions] as const);
      for (const [id, figure] of Object.entries(batch.results))
        log(`${id}: median ${figure.medianMs.toFixed(1)} ms, runs ${figure.runsMs.map((ms) => ms.toFixed(0)).join(' ')}`);
      return;
    }
    const checkUrl = `bundles/house-prices-random-forest/${liveVersion('house-prices-random-forest')}/model.onnx`;
    const unthrottledCheck = await page.evaluate((u) => window.bench.throttleCheck(u), checkUrl);
    const unthrottle = await throttle(page);
    const throttledCheck = await page.evaluate((u) => window.bench.throttleCheck(u), checkUrl);
    await unthrottle();
    log(
      `throttle check: page ${throttledCheck.pageMs.toFixed(0)} ms, worker ${throttledCheck.workerMs.toFixed(0)} ms for ${throttledCheck.bytes} bytes`,
    );

    const models: Record<string, ModelResults> = {};
    for (const plan of MODELS) {
      models[plan.name] = await modelFigures(page, plan, { concurrent: true, breakdown: plan.breakdown === true });
    }
    await context.close();

    const startResults: Record<string, StartResults> = {};
    for (const plan of MODELS.filter((m) => m.starts === true)) {
      log(`${plan.name}: cold and warm starts (throttled)`);
      startResults[plan.name] = await starts(browser, server, plan, models[plan.name]!.setup.rivalThreads);
    }

    // The main model once more on a page that is not cross-origin isolated: one thread, a 100 µs timer.
    log('not isolated: house-prices-gradient-boosting');
    const plainContext = await browser.newContext();
    const plainPage = await openPage(plainContext, server.origin, PLAIN_PREFIX);
    const pageNotIsolated = await plainPage.evaluate(() => window.bench.environment());
    const notIsolated = { [MODELS[0]!.name]: await modelFigures(plainPage, MODELS[0]!, { concurrent: false, breakdown: false }) };
    await plainContext.close();

    log('ondevice score and pandas + scikit-learn on a 30,000-row CSV file');
    const cli = cliFigures({ rows: 30_000, repetitions: quick ? 1 : 5 });

    const results: BenchResults = {
      format: 'ondevice-bench',
      formatVersion: 1,
      startedAt: startedAt.toISOString(),
      durationS: (performance.now() - t0) / 1000,
      environment: {
        chromium: browser.version(),
        node: process.version,
        platform: `${platform()} ${release()}`,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        cpus: cpus().length,
        memoryBytes: totalmem(),
        loadAverage: { start: loadAtStart, end: loadavg()[0]! },
        gitCommit: git(['rev-parse', 'HEAD']),
        gitDirty: ((status) => (status === null ? null : status.length > 0))(git(['status', '--porcelain', '--', 'src'])),
        packages: Object.fromEntries(
          ['onnxruntime-web', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-wasm', 'comlink', 'vite', '@playwright/test'].map(
            (name) => [name, packageVersion(name)],
          ),
        ),
        page: environment,
        pageNotIsolated,
      },
      parameters: PARAMETERS,
      network: {
        ...NETWORK,
        method: 'Network.emulateNetworkConditions on the page target (CDP); it throttles the dedicated workers too (see check)',
        check: {
          url: checkUrl,
          bytes: throttledCheck.bytes,
          expectedThrottledMs: NETWORK.latencyMs + (throttledCheck.bytes * 8 * 1000) / NETWORK.downloadBitsPerSecond,
          unthrottled: { pageMs: unthrottledCheck.pageMs, workerMs: unthrottledCheck.workerMs },
          throttled: { pageMs: throttledCheck.pageMs, workerMs: throttledCheck.workerMs },
        },
      },
      models,
      starts: startResults,
      notIsolated,
      sizes,
      cli,
      pageErrors,
    };
    const dir = join(root, 'bench/results');
    mkdirSync(dir, { recursive: true });
    const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
    const json = `${JSON.stringify(results, null, 2)}\n`;
    writeFileSync(join(dir, `${stamp}.json`), json);
    writeFileSync(join(dir, 'latest.json'), json);
    if (quick) log('quick run: README not regenerated (its numbers would be smoke-test numbers)');
    else writeFileSync(join(root, 'bench/README.md'), renderReadme(results, `bench/results/${stamp}.json`));
    log(`done in ${results.durationS.toFixed(0)} s: bench/results/${stamp}.json${quick ? '' : ', bench/README.md'}`);
    if (pageErrors.length > 0) log(`page errors:\n  ${pageErrors.join('\n  ')}`);
  } finally {
    await browser.close();
    await server.close();
  }
}

await main();
