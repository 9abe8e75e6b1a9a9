import { cp, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';
import { afterAll, describe, expect, it } from 'vitest';
import { BundleError, InputError } from '../src/errors/index.js';
import ondevice, { type OndeviceViteOptions } from '../src/vite/index.js';
import { caught } from './helpers.js';
import { MODELS_DIR } from './parity.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const made: string[] = [];
afterAll(async () => Promise.all(made.map((dir) => rm(dir, { recursive: true, force: true }))));

/** A minimal app that loads a bundle, under `parent` (inside the repository, node_modules resolve from there). */
async function app(parent: string): Promise<string> {
  await mkdir(parent, { recursive: true });
  const root = await mkdtemp(join(parent, 'ondevice-vite-app-'));
  made.push(root);
  await writeFile(
    join(root, 'index.html'),
    '<!doctype html><html><head><title>app</title></head><body><script type="module" src="./main.ts"></script></body></html>\n',
  );
  await writeFile(join(root, 'main.ts'), "import { load } from 'ondevice';\nvoid load('/bundles/penguins/channel.json');\n");
  return root;
}

async function buildApp(root: string, options: OndeviceViteOptions): Promise<void> {
  await build({
    root,
    configFile: false,
    logLevel: 'silent',
    // The library from source, as the package's `ondevice` import.
    resolve: { alias: { ondevice: join(REPO, 'src/index.ts') } },
    build: { outDir: join(root, 'dist'), emptyOutDir: true },
    plugins: [ondevice(options)],
  });
}

describe('ondevice/vite options', () => {
  it('refuses a wrong option by name, before anything is built', () => {
    const cases: [unknown, string][] = [
      [{ bundle: 'models' }, 'bundle'],
      [{ bundles: 42 }, 'bundles'],
      [{ path: '../up' }, 'path'],
      [{ offline: 'yes' }, 'offline'],
      [{ runtimes: ['pytorch'] }, 'runtimes'],
      [{ webgpu: 1 }, 'webgpu'],
    ];
    for (const [options, field] of cases) {
      let error: unknown;
      try {
        ondevice(options as OndeviceViteOptions);
      } catch (thrown) {
        error = thrown;
      }
      expect(error, JSON.stringify(options)).toBeInstanceOf(InputError);
      expect(error).toMatchObject({ code: 'INVALID_OPTION', details: { field } });
      expect((error as Error).message).toMatch(new RegExp(`^ondevice/vite: ${field} `));
    }
  });
});

describe('ondevice/vite builds', () => {
  const inRepo = join(REPO, 'node_modules/.cache');

  it('packs a build folder into the app, precaches it, and leaves out TensorFlow.js and the WebGPU build', async () => {
    const root = await app(inRepo);
    await buildApp(root, { bundles: [join(MODELS_DIR, 'penguins/build')], offline: true });
    const dist = join(root, 'dist');
    const channel = JSON.parse(await readFile(join(dist, 'bundles/penguins/channel.json'), 'utf8')) as { live: { version: string } };
    expect(channel.live.version).toBe('1.0.0');
    const assets = await readdir(join(dist, 'assets'));
    expect(assets.filter((name) => /^tfjs-[^m]|tfjs-backend|asyncify|webgpu\.bundle/.test(name))).toEqual([]);
    expect(assets.some((name) => name.startsWith('entry-'))).toBe(true);
    const sw = await readFile(join(dist, 'sw.js'), 'utf8');
    expect(sw).toContain('bundles/penguins/1.0.0/model.onnx');
    expect(sw).not.toContain('process.env');
    expect(await readFile(join(dist, 'index.html'), 'utf8')).toContain('src="/ondevice-register-sw.js"');
  });

  it('a missing bundle folder fails the build naming the option and the path, and writes nothing', async () => {
    const root = await app(inRepo);
    const error = await caught(() => buildApp(root, { bundles: ['models/nowhere'] }));
    expect(error).toBeInstanceOf(BundleError);
    expect((error as Error).message).toMatch(/ondevice\/vite: bundles\[0\] is .*models\/nowhere, which does not exist/);
    expect(await stat(join(root, 'dist')).catch(() => undefined)).toBeUndefined();
  });

  it('a TensorFlow.js bundle in an app without TensorFlow.js installed fails the build, naming the packages', async () => {
    // Outside the repository: nothing resolves @tensorflow/* from there.
    const root = await app(await mkdtemp(join(tmpdir(), 'ondevice-vite-bare-')));
    const error = await caught(() => buildApp(root, { bundles: [join(MODELS_DIR, 'house-prices/build/mlp-tfjs')] }));
    expect(error).toBeInstanceOf(BundleError);
    expect((error as Error).message).toContain(
      'bundle house-prices-mlp-tfjs runs tensorflow-js, which is not installed: npm install @tensorflow/tfjs-core',
    );
    expect(await stat(join(root, 'dist')).catch(() => undefined)).toBeUndefined();
  });
});

describe('ondevice/vite refuses a bundle that could not serve', () => {
  it('a build folder whose model fails its own gate fails the build, naming the bundle and the check', async () => {
    const root = await app(join(REPO, 'node_modules/.cache'));
    const build = join(root, 'penguins-build');
    await cp(join(MODELS_DIR, 'penguins/build'), build, { recursive: true });
    // The research outputs no longer match the model: the end-to-end check fails, as it would on every device.
    const e2e = JSON.parse(await readFile(join(build, 'e2e-set.json'), 'utf8')) as { expected: { probabilities: number[][] } };
    e2e.expected.probabilities[0] = [0.2, 0.3, 0.5];
    await writeFile(join(build, 'e2e-set.json'), JSON.stringify(e2e));
    const error = await caught(() => buildApp(root, { bundles: [build] }));
    expect(error).toBeInstanceOf(BundleError);
    expect((error as Error).message).toMatch(/^ondevice\/vite: bundle penguins \(from .*penguins-build\) cannot serve: .*end-to-end/);
    expect(await stat(join(root, 'dist')).catch(() => undefined)).toBeUndefined();
  });
});
