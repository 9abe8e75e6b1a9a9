import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, test, type Page } from '@playwright/test';
import { startStaticServer, type StaticServer } from './support/static-server.js';

// The README's quick start, as a new user follows it: the library packed with `npm pack`, installed
// into a plain Vite app (e2e/consumer/, configured exactly as the quick start says), built and served.
const REPO = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);
/** The smallest Content-Security-Policy the library works under (README, "Content-Security-Policy"). */
const STRICT_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'";

test.describe.configure({ mode: 'serial', timeout: 120_000 });

let work: string;
let app: string;
/** What `npm pack --json` says of the tarball. */
let packed: { filename: string; size: number; unpackedSize: number; entryCount: number };
let plain: StaticServer;
let strict: StaticServer;
/** The strict policy less `'wasm-unsafe-eval'`: what the policy needs that for. */
let noWasm: StaticServer;

test.beforeAll(async () => {
  test.setTimeout(300_000);
  work = await mkdtemp(join(tmpdir(), 'ondevice-consumer-'));
  app = join(work, 'app');
  // `npm pack` runs prepack, which builds what the package ships.
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: REPO, maxBuffer: 64 * 1024 * 1024 });
  packed = (JSON.parse(stdout) as (typeof packed)[])[0]!;
  const tarball = join(work, packed.filename);
  await cp(join(REPO, 'e2e/consumer'), app, { recursive: true });
  await cp(join(REPO, 'models/penguins/build'), join(app, 'models/penguins/build'), { recursive: true });
  const vite = (JSON.parse(await readFile(join(REPO, 'node_modules/vite/package.json'), 'utf8')) as { version: string }).version;
  // As a user would: the tarball and Vite from the registry (npm's cache answers when it has them).
  await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, `vite@${vite}`], {
    cwd: app,
    maxBuffer: 64 * 1024 * 1024,
  });
  await run('npx', ['vite', 'build'], { cwd: app, maxBuffer: 64 * 1024 * 1024 });
  // A TensorFlow.js bundle the app did not build in, served beside it (as if from another origin's channel).
  await run(
    process.execPath,
    [
      join(REPO, 'node_modules/tsx/dist/cli.mjs'),
      join(REPO, 'src/cli/main.ts'),
      'pack',
      join(REPO, 'models/house-prices/build/mlp-tfjs'),
      '--out',
      join(app, 'dist/elsewhere'),
    ],
    { cwd: REPO },
  );
  plain = await startStaticServer(join(app, 'dist'));
  strict = await startStaticServer(join(app, 'dist'), { 'content-security-policy': STRICT_CSP });
  noWasm = await startStaticServer(join(app, 'dist'), { 'content-security-policy': "default-src 'self'; script-src 'self'" });
});

test.afterAll(async () => {
  await plain?.close();
  await strict?.close();
  await noWasm?.close();
  if (work !== undefined) await rm(work, { recursive: true, force: true });
});

/** Bytes of every file under `dir`. */
async function sizeOf(dir: string): Promise<number> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const sizes = await Promise.all(entries.filter((e) => e.isFile()).map((e) => stat(join(e.parentPath, e.name)).then((s) => s.size)));
  return sizes.reduce((sum, size) => sum + size, 0);
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(2)} MB`;

async function species(page: Page): Promise<{ species: string; source: string }> {
  const output = page.locator('#species');
  await expect(output).not.toHaveText('…', { timeout: 30_000 });
  return { species: (await output.textContent()) ?? '', source: (await page.locator('#source').textContent()) ?? '' };
}

test('the quick-start app predicts, and after a reload offline it starts from the cache and predicts again', async ({ page, context }) => {
  const fetched: { url: string; bytes: number }[] = [];
  page.on(
    'requestfinished',
    (request) => void request.sizes().then((sizes) => fetched.push({ url: request.url(), bytes: sizes.responseBodySize })),
  );
  await page.goto(plain.origin);
  expect(await species(page)).toEqual({ species: 'Gentoo', source: 'network' });
  const firstVisit = fetched.length;
  const firstBytes = fetched.reduce((sum, f) => sum + f.bytes, 0);
  // The service worker the plugin built has precached the app, the runtime and the bundle.
  await page.evaluate(async () => void (await navigator.serviceWorker.ready));
  await expect.poll(() => page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);

  await context.setOffline(true);
  await page.reload();
  expect(await species(page)).toEqual({ species: 'Gentoo', source: 'cache' });
  console.log(
    `consumer app, first visit until the first answer: ${firstVisit} requests, ${mb(firstBytes)} (bodies); offline reload: answered from the cache`,
  );
});

test('under the strict Content-Security-Policy the app loads, gates and predicts, with no violation', async ({ browser }) => {
  // A fresh profile: nothing cached, every request goes to the server that sends the policy.
  const context = await browser.newContext({ serviceWorkers: 'block' });
  const page = await context.newPage();
  await page.addInitScript(() => {
    (window as unknown as { violations: string[] }).violations = [];
    document.addEventListener('securitypolicyviolation', (event) =>
      (window as unknown as { violations: string[] }).violations.push(`${event.violatedDirective} ${event.blockedURI}`),
    );
  });
  const response = await page.goto(strict.origin);
  expect(response?.headers()['content-security-policy']).toBe(STRICT_CSP);
  expect(await species(page)).toEqual({ species: 'Gentoo', source: 'network' });
  expect(await page.evaluate(() => (window as unknown as { violations: string[] }).violations)).toEqual([]);
  await context.close();
});

test("without 'wasm-unsafe-eval' the runtime cannot compile its WASM: load() rejects with RUNTIME_LOAD_FAILED", async ({ browser }) => {
  const context = await browser.newContext({ serviceWorkers: 'block' });
  const page = await context.newPage();
  const failures: string[] = [];
  page.on('pageerror', (error) => failures.push(`${error.name}: ${error.message}`));
  await page.goto(noWasm.origin);
  await expect.poll(() => failures.length, { timeout: 30_000 }).toBeGreaterThan(0);
  expect(failures[0]).toMatch(
    /^ScoringError: onnxruntime-web could not load the model on any backend: wasm .*(WebAssembly|CompileError|unsafe-eval)/,
  );
  await context.close();
});

test('the build holds only the runtime files the app uses: no TensorFlow.js, no WebGPU build', async () => {
  const assets = await readdir(join(app, 'dist/assets'));
  const wasm = assets.filter((name) => name.endsWith('.wasm'));
  expect(wasm, 'one WASM binary: onnxruntime-web (SIMD, threads when isolated)').toHaveLength(1);
  expect(wasm[0]).toMatch(/^ort-wasm-simd-threaded-[^.]+\.wasm$/);
  expect(assets.filter((name) => /tfjs|asyncify|jsep|jspi|webgpu\.bundle/.test(name) && !/tfjs-missing/.test(name))).toEqual([]);
  const dist = await readdir(join(app, 'dist'), { recursive: true, withFileTypes: true });
  const listed = await Promise.all(
    dist
      .filter((e) => e.isFile())
      .map(async (e) => ({
        file: join(e.parentPath, e.name).slice(join(app, 'dist').length + 1),
        bytes: (await stat(join(e.parentPath, e.name))).size,
      })),
  );
  // What the app's build made (not the bundle this test put beside it).
  const files = listed.filter((f) => !f.file.startsWith('elsewhere/'));
  const installed = await readdir(join(app, 'node_modules'));
  expect(installed).not.toContain('@tensorflow');
  console.log(
    [
      `tarball ${packed.filename}: ${mb(packed.size)} packed, ${mb(packed.unpackedSize)} unpacked, ${packed.entryCount} files`,
      `app node_modules (ondevice + vite): ${mb(await sizeOf(join(app, 'node_modules')))}, of it onnxruntime-web ${mb(await sizeOf(join(app, 'node_modules/onnxruntime-web')))}, ondevice ${mb(await sizeOf(join(app, 'node_modules/ondevice')))}; no @tensorflow`,
      `app dist: ${mb(files.reduce((sum, f) => sum + f.bytes, 0))} in ${files.length} files:`,
      ...files.sort((a, b) => b.bytes - a.bytes).map((f) => `  ${f.file} ${f.bytes.toLocaleString('en')} B`),
    ].join('\n'),
  );
  const sw = await readFile(join(app, 'dist/sw.js'), 'utf8');
  for (const file of ['index.html', 'bundles/penguins/channel.json', 'bundles/penguins/1.0.0/model.onnx', `assets/${wasm[0]}`])
    expect(sw).toContain(file);
});

test('a TensorFlow.js bundle loaded by an app built without TensorFlow.js is refused with RUNTIME_MISSING, naming what to install', async ({
  browser,
}) => {
  const context = await browser.newContext({ serviceWorkers: 'block' });
  const page = await context.newPage();
  await page.goto(plain.origin);
  await species(page);
  const refusal = await page.evaluate(async () => {
    const load = (window as unknown as { ondeviceLoad: (url: string) => Promise<unknown> }).ondeviceLoad;
    try {
      await load('/elsewhere/house-prices-mlp-tfjs/channel.json');
      return null;
    } catch (error) {
      const e = error as { name: string; code: string; message: string; details: { packages?: unknown } };
      return { name: e.name, code: e.code, message: e.message, packages: e.details.packages };
    }
  });
  expect(refusal).toMatchObject({ name: 'ScoringError', code: 'RUNTIME_MISSING' });
  expect(refusal!.packages).toContain('@tensorflow/tfjs-core');
  expect(refusal!.message).toContain('npm install @tensorflow/tfjs-core');
  await context.close();
});
