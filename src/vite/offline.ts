import { createHash } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listFiles } from './bundles.js';

export interface OfflineOptions {
  /**
   * The page a navigation gets when it is not a precached file (a single-page app's `index.html`);
   * `null`: none.
   * @defaultValue `'index.html'` (`DEFAULT_NAVIGATE_FALLBACK`) when the build has one, else `null`
   */
  readonly navigateFallback?: string | null;
  /**
   * Bundles whose live version is precached, by name.
   * @defaultValue every bundle the plugin serves
   */
  readonly bundles?: readonly string[];
  /** Files of the build never precached, matched against their path in the output (e.g. `/^videos\//`). */
  readonly exclude?: readonly RegExp[];
}

/** The page navigations fall back to when `navigateFallback` is not given and the build has it. */
export const DEFAULT_NAVIGATE_FALLBACK = 'index.html';

/** The service worker's file name, in the output's root (its scope is the app's base). */
export const SERVICE_WORKER_FILE = 'sw.js';
/** The script that registers it, added to every page of the build. */
export const REGISTER_FILE = 'ondevice-register-sw.js';

/**
 * Files that only some devices fetch, and only when they choose them: onnxruntime-web's WebGPU
 * build and its binaries (the library asks for them only where WebGPU serves), and source maps.
 */
const NOT_PRECACHED = [/\.map$/, /(^|\/)ort\.webgpu\.bundle[^/]*$/, /ort-wasm-simd-threaded\.(asyncify|jsep|jspi)[^/]*$/];

export interface PrecacheEntry {
  readonly url: string;
  readonly revision: string;
}

/**
 * What the service worker precaches: every file of the build, but bundles only as their live
 * version (channel.json and that version's files), and nothing in `NOT_PRECACHED` or `exclude`.
 */
export async function precacheEntries(
  outDir: string,
  bundlesPath: string,
  bundles: readonly { readonly name: string; readonly liveFiles: readonly string[] }[],
  options: OfflineOptions,
): Promise<PrecacheEntry[]> {
  const wanted = new Set(options.bundles ?? bundles.map((b) => b.name));
  const liveFiles = new Set(
    bundles.filter((b) => wanted.has(b.name)).flatMap((b) => b.liveFiles.map((file) => `${bundlesPath}/${b.name}/${file}`)),
  );
  const excluded = [...NOT_PRECACHED, ...(options.exclude ?? [])];
  const entries: PrecacheEntry[] = [];
  for (const file of await listFiles(outDir)) {
    if (file === SERVICE_WORKER_FILE || excluded.some((pattern) => pattern.test(file))) continue;
    if (file.startsWith(`${bundlesPath}/`) && !liveFiles.has(file)) continue;
    const revision = createHash('sha256')
      .update(await readFile(join(outDir, file)))
      .digest('hex')
      .slice(0, 16);
    entries.push({ url: file, revision });
  }
  return entries;
}

/**
 * Bundles the Workbox service worker (`service-worker.ts`) with the entries injected, into
 * `<outDir>/sw.js`, written whole or not at all.
 */
export async function writeServiceWorker(
  outDir: string,
  entries: readonly PrecacheEntry[],
  navigateFallback: string | null,
): Promise<void> {
  const { build } = await import('vite');
  const entry = fileURLToPath(new URL(`./service-worker.${import.meta.url.endsWith('.ts') ? 'ts' : 'js'}`, import.meta.url));
  const output = await build({
    configFile: false,
    publicDir: false,
    logLevel: 'warn',
    // Workbox logs every step unless built for production (a library build leaves NODE_ENV alone).
    define: {
      __ONDEVICE_PRECACHE__: JSON.stringify(entries),
      __ONDEVICE_NAVIGATION__: JSON.stringify(navigateFallback),
      'process.env.NODE_ENV': '"production"',
    },
    mode: 'production',
    build: {
      write: false,
      minify: true,
      lib: { entry, formats: ['iife'], name: 'ondeviceServiceWorker', fileName: () => SERVICE_WORKER_FILE },
    },
  });
  const results = Array.isArray(output) ? output : [output];
  const chunk = results.flatMap((result) => ('output' in result ? result.output : [])).find((item) => item.type === 'chunk');
  if (chunk === undefined || chunk.type !== 'chunk') throw new Error('ondevice/vite: the service worker build produced no script');
  const path = join(outDir, SERVICE_WORKER_FILE);
  const temporary = `${path}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, chunk.code);
    await rename(temporary, path);
  } finally {
    await rm(temporary, { force: true });
  }
}

/** The registration script: registered once the page has loaded, so it never competes with the app's own requests. */
export function registerScript(base: string): string {
  const url = JSON.stringify(`${base}${SERVICE_WORKER_FILE}`);
  const scope = JSON.stringify(base);
  return `if ('serviceWorker' in navigator) addEventListener('load', () => navigator.serviceWorker.register(${url}, { scope: ${scope} }).catch((error) => console.warn('ondevice: the service worker did not register', error)));\n`;
}
