// `ondevice/vite`: one line in an app's vite.config.ts. It serves the app's bundles in dev and
// emits them in the build, builds ondevice's workers as ES modules (runtimes stay lazy chunks),
// keeps out the runtime files no bundle of the app can use, and with `offline` precaches the app.
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { ServerResponse } from 'node:http';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin, ResolvedConfig } from 'vite';
import { BundleError, InputError } from '../errors/index.js';
import { RUNTIME_PACKAGES, type RuntimeName } from '../runtimes/index.js';
import { listFiles, stageBundles, type Staged } from './bundles.js';
import {
  DEFAULT_NAVIGATE_FALLBACK,
  REGISTER_FILE,
  precacheEntries,
  registerScript,
  writeServiceWorker,
  type OfflineOptions,
} from './offline.js';

export type { OfflineOptions } from './offline.js';

export interface OndeviceViteOptions {
  /**
   * The app's models: build folders a training script wrote (with model-card.json: packed here),
   * packed bundle folders (with channel.json: copied), or folders holding either. Paths are
   * relative to Vite's `root`. Each is served in dev and emitted in the build as
   * `<base><path>/<name>/`, so the app loads `/<path>/<name>/channel.json`.
   */
  readonly bundles?: string | readonly string[];
  /**
   * Where bundles are served under the app's base.
   * @defaultValue `'bundles'` (`DEFAULT_BUNDLES_PATH`)
   */
  readonly path?: string;
  /**
   * Precache the app (its pages, scripts, the runtime assets it uses, and the bundles' live
   * versions) in a Workbox service worker, so it starts offline after the first visit. Build only.
   * @defaultValue `false`
   */
  readonly offline?: boolean | OfflineOptions;
  /**
   * Runtimes to build in besides those the bundles need (for bundles the app loads from
   * elsewhere). TensorFlow.js must then be installed.
   * @defaultValue the runtimes of the bundles given
   */
  readonly runtimes?: readonly RuntimeName[];
  /**
   * Build onnxruntime-web's WebGPU build in (about 27 MB, fetched only by devices that choose
   * WebGPU: large models on a GPU). Without it, WebGPU is a recorded fallback to WASM.
   * @defaultValue `false`
   */
  readonly webgpu?: boolean;
  /**
   * Serve dev and preview with the two headers that give onnxruntime-web threads
   * (Cross-Origin-Opener-Policy `same-origin`, Cross-Origin-Embedder-Policy `require-corp`). Your
   * production server must send them too. They block cross-origin resources without CORP/CORS.
   * @defaultValue `false`
   */
  readonly crossOriginIsolation?: boolean;
  /**
   * Run each bundle's gate in Node at build time (as `ondevice verify` does), so a bundle that
   * could not serve fails the build instead of the users' devices.
   * @defaultValue `true`
   */
  readonly verify?: boolean;
}

/** Where bundles are served under the app's base when `path` is not given. */
export const DEFAULT_BUNDLES_PATH = 'bundles';

const OPTION_NAMES = new Set(['bundles', 'path', 'offline', 'runtimes', 'webgpu', 'crossOriginIsolation', 'verify']);
/** Where this plugin's module sits: `dist/lib/vite` installed, `src/vite` in this repository. */
const LIBRARY_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const WEBGPU_STUB = '\0ondevice:webgpu-not-built';

/** The plugin. `plugins: [ondevice({ bundles: ['models/penguins/build'], offline: true })]`. */
export default function ondevice(options: OndeviceViteOptions = {}): Plugin {
  const settings = checkOptions(options);
  let config: ResolvedConfig | undefined;
  let staged: Staged | undefined;
  const stagedBundles = (): NonNullable<Staged>['bundles'] => staged?.bundles ?? [];
  let runtimes = new Set<RuntimeName>(settings.runtimes);

  const swap = runtimeSwap(() => runtimes, settings.webgpu);
  let previewing = false;
  return {
    name: 'ondevice',
    enforce: 'pre',
    config(_, env) {
      previewing = env.isPreview === true;
      const isolation = settings.crossOriginIsolation
        ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }
        : undefined;
      return {
        // The worker imports its runtime on demand: code splitting needs ES module workers.
        worker: { format: 'es', plugins: () => [swap] },
        // Pre-bundling would break the worker URL and onnxruntime-web's own .wasm URL.
        optimizeDeps: { exclude: ['ondevice', 'onnxruntime-web'] },
        ...(isolation === undefined ? {} : { server: { headers: isolation }, preview: { headers: isolation } }),
      };
    },
    async configResolved(resolved) {
      config = resolved;
      if (previewing) return;
      staged = await stageBundles(settings.bundles, resolved.root, 'ondevice/vite');
      runtimes = new Set([...settings.runtimes, ...staged.bundles.map((b) => b.runtime)]);
      try {
        checkRuntimesInstalled(runtimes, resolved.root, staged);
        // Before the build starts: a bundle that cannot serve stops it with its own error.
        if (resolved.command === 'build' && settings.verify) await verifyBundles(staged);
      } catch (error) {
        await staged.dispose();
        throw error;
      }
    },
    resolveId: swap.resolveId!,
    load: swap.load!,
    configureServer(server) {
      server.httpServer?.once('close', () => void staged?.dispose());
      server.middlewares.use((request, response, next) =>
        serveBundleFile(bundleFileOf(request.url, config!.base, settings.path, stagedBundles()), response, next),
      );
    },
    async generateBundle() {
      if (config?.command !== 'build') return;
      for (const bundle of stagedBundles()) {
        for (const file of await listFiles(bundle.dir)) {
          this.emitFile({
            type: 'asset',
            fileName: `${settings.path}/${bundle.name}/${file}`,
            source: await readBytes(join(bundle.dir, file)),
          });
        }
      }
      if (settings.offline !== false) this.emitFile({ type: 'asset', fileName: REGISTER_FILE, source: registerScript(config.base) });
    },
    transformIndexHtml: {
      order: 'post',
      handler() {
        if (config?.command !== 'build' || settings.offline === false) return [];
        return [{ tag: 'script', attrs: { src: `${config.base}${REGISTER_FILE}`, defer: true }, injectTo: 'head' }];
      },
    },
    async closeBundle() {
      try {
        if (config?.command === 'build' && settings.offline !== false)
          await writeOffline(resolve(config.root, config.build.outDir), settings.path, stagedBundles(), settings.offline);
      } finally {
        await staged?.dispose();
      }
    },
  };
}

/** A staged bundle's file for the dev server (no-cache: a re-pack shows at once), or the next middleware. */
function serveBundleFile(file: string | undefined, response: ServerResponse, next: () => void): void {
  if (file === undefined) return next();
  stat(file).then(
    (info) => {
      if (!info.isFile()) return next();
      response.setHeader('Content-Type', contentType(file));
      response.setHeader('Content-Length', String(info.size));
      response.setHeader('Cache-Control', 'no-cache');
      createReadStream(file).pipe(response);
    },
    () => next(),
  );
}

/** The service worker of the built app: its pages, assets and bundles precached, navigations answered offline. */
async function writeOffline(outDir: string, path: string, bundles: NonNullable<Staged>['bundles'], offline: OfflineOptions): Promise<void> {
  const pages = await listFiles(outDir);
  const fallback =
    offline.navigateFallback === undefined
      ? pages.includes(DEFAULT_NAVIGATE_FALLBACK)
        ? DEFAULT_NAVIGATE_FALLBACK
        : null
      : offline.navigateFallback;
  await writeServiceWorker(outDir, await precacheEntries(outDir, path, bundles, offline), fallback);
}

/** Options checked up front: a wrong one is an error naming it, before anything is built. */
function checkOptions(options: OndeviceViteOptions): {
  bundles: readonly string[];
  path: string;
  offline: OfflineOptions | false;
  runtimes: readonly RuntimeName[];
  webgpu: boolean;
  crossOriginIsolation: boolean;
  verify: boolean;
} {
  const refuse = (field: string, why: string): never => {
    throw new InputError('INVALID_OPTION', `ondevice/vite: ${field} ${why}`, { field });
  };
  if (typeof options !== 'object' || options === null) refuse('options', 'must be an object');
  for (const key of Object.keys(options))
    if (!OPTION_NAMES.has(key)) refuse(key, `is not an option (options: ${[...OPTION_NAMES].join(', ')})`);
  const bundles = options.bundles === undefined ? [] : typeof options.bundles === 'string' ? [options.bundles] : options.bundles;
  if (!Array.isArray(bundles) || bundles.some((b) => typeof b !== 'string' || b === ''))
    refuse('bundles', 'must be a folder path or a list of them');
  const path = options.path ?? DEFAULT_BUNDLES_PATH;
  if (typeof path !== 'string' || !/^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/.test(path))
    refuse('path', `must be a relative URL path like "bundles", got ${JSON.stringify(path)}`);
  const offline = options.offline === undefined || options.offline === false ? false : options.offline === true ? {} : options.offline;
  if (offline !== false && (typeof offline !== 'object' || offline === null)) refuse('offline', 'must be true, false or an object');
  const runtimes = options.runtimes ?? [];
  const known = Object.keys(RUNTIME_PACKAGES);
  if (!Array.isArray(runtimes) || runtimes.some((r) => !known.includes(r)))
    refuse('runtimes', `must list runtimes among ${known.join(', ')}`);
  for (const flag of ['webgpu', 'crossOriginIsolation', 'verify'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') refuse(flag, 'must be true or false');
  }
  return {
    bundles,
    path,
    offline,
    runtimes,
    webgpu: options.webgpu ?? false,
    crossOriginIsolation: options.crossOriginIsolation ?? false,
    verify: options.verify ?? true,
  };
}

/**
 * Resolves ondevice's runtime modules to stand-ins for what the app leaves out: TensorFlow.js when
 * no bundle needs it (and so its ~900 KB of code and its .wasm files), onnxruntime-web's WebGPU
 * build unless asked for. Applied to the app and to its workers, whose entries it checks are leaves.
 */
function runtimeSwap(runtimes: () => ReadonlySet<RuntimeName>, webgpu: boolean): Plugin {
  return {
    name: 'ondevice:workers',
    enforce: 'pre',
    async resolveId(source, importer, resolveOptions) {
      if (importer === undefined || !isLibraryFile(importer)) return null;
      if (source === 'onnxruntime-web/webgpu' && !webgpu) return WEBGPU_STUB;
      if (
        /^\.\/tfjs(\.js|\.ts)?$/.test(source) &&
        /[\\/]runtimes[\\/]index\.[jt]s$/.test(cleanId(importer)) &&
        !runtimes().has('tensorflow-js')
      ) {
        return this.resolve(source.replace('tfjs', 'tfjs-missing'), importer, { ...resolveOptions, skipSelf: true });
      }
      return null;
    },
    load(id) {
      if (id !== WEBGPU_STUB) return null;
      return `throw new Error("onnxruntime-web's WebGPU build is not in this app (ondevice/vite's webgpu option adds it)");\n`;
    },
    generateBundle(_, bundle) {
      const problem = entryImportedBack(bundle);
      if (problem !== undefined) this.error(problem);
    },
  };
}

/**
 * A worker's entry chunk that another chunk imports: WebKit would evaluate the entry a second time
 * (two services on one channel). ondevice's entries are leaves; this fails a build that breaks that.
 */
export function entryImportedBack(
  bundle: Readonly<
    Record<
      string,
      {
        readonly type: string;
        readonly isEntry?: boolean;
        readonly imports?: readonly string[];
        readonly dynamicImports?: readonly string[];
      }
    >
  >,
): string | undefined {
  const chunks = Object.entries(bundle).filter(([, item]) => item.type === 'chunk');
  for (const [entry, chunk] of chunks) {
    if (chunk.isEntry !== true) continue;
    const importers = chunks
      .filter(([, other]) => [...(other.imports ?? []), ...(other.dynamicImports ?? [])].includes(entry))
      .map(([name]) => name);
    if (importers.length > 0)
      return `ondevice/vite: the worker entry ${entry} is imported by ${importers.join(', ')}: WebKit would run it twice. A worker's entry must be a leaf.`;
  }
  return undefined;
}

const cleanId = (id: string): string => id.replace(/[?#].*$/, '');
const isLibraryFile = (id: string): boolean => cleanId(id).startsWith(LIBRARY_ROOT);

function checkRuntimesInstalled(runtimes: ReadonlySet<RuntimeName>, root: string, staged: Staged): void {
  const require = createRequire(join(root, 'package.json'));
  for (const runtime of runtimes) {
    const absent = RUNTIME_PACKAGES[runtime].filter((pkg) => {
      try {
        require.resolve(pkg);
        return false;
      } catch (error) {
        // Found, but its exports map has no entry for require: it is installed.
        return (error as { code?: unknown }).code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED';
      }
    });
    if (absent.length === 0) continue;
    const users = staged.bundles.filter((b) => b.runtime === runtime).map((b) => b.name);
    throw new BundleError(
      'INVALID_MANIFEST',
      `ondevice/vite: ${users.length > 0 ? `bundle ${users.join(', ')} runs` : 'the runtimes option asks for'} ${runtime}, which is not installed: npm install ${absent.join(' ')}`,
      { runtime, packages: absent },
    );
  }
}

/** Each bundle's live version verified and gated in Node, with the browser's own code and runtime. */
async function verifyBundles(staged: Staged): Promise<void> {
  const { load } = await import('../node/index.js');
  for (const bundle of staged.bundles) {
    try {
      const model = await load(bundle.dir, { monitor: false, batching: false, shards: 0 });
      await model.dispose();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new BundleError(
        'INVALID_MANIFEST',
        `ondevice/vite: bundle ${bundle.name} (from ${bundle.source}) cannot serve: ${message} (verify: false skips this check)`,
        { name: bundle.name },
      );
    }
  }
}

/** The staged file a dev-server request names, if it is one of the bundles'. */
function bundleFileOf(
  url: string | undefined,
  base: string,
  path: string,
  bundles: readonly { name: string; dir: string }[],
): string | undefined {
  if (url === undefined) return undefined;
  const pathname = decodeURIComponent(url.replace(/[?#].*$/, ''));
  const prefix = `${base}${path}/`;
  if (!pathname.startsWith(prefix)) return undefined;
  const [name, ...rest] = pathname.slice(prefix.length).split('/');
  const bundle = bundles.find((b) => b.name === name);
  if (bundle === undefined || rest.length === 0 || rest.some((part) => part === '..' || part === '')) return undefined;
  return join(bundle.dir, ...rest);
}

const TYPES: Readonly<Record<string, string>> = {
  '.json': 'application/json',
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.sig': 'application/json',
};
const contentType = (file: string): string => TYPES[extname(file)] ?? 'application/octet-stream';

async function readBytes(path: string): Promise<Uint8Array> {
  const { readFile } = await import('node:fs/promises');
  return new Uint8Array(await readFile(path));
}
