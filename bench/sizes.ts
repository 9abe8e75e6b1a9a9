import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Rollup } from 'vite';

export interface PieceSize {
  /** Emitted files that make up the piece. */
  readonly files: readonly string[];
  readonly minBytes: number;
  /** gzip (node:zlib, default level 6) of each file, summed: what a server that gzips sends. */
  readonly gzipBytes: number;
}

export interface SizeReport {
  readonly method: string;
  /** `import { load } from 'ondevice'`: comlink + src/index.ts and what it imports, minified. */
  readonly mainThread: PieceSize;
  /** The worker entry chunk and its static imports: everything but the runtimes it imports on demand. */
  readonly workerWithoutRuntimes: PieceSize;
  /** Every other emitted file (runtime chunks imported on demand, .wasm binaries), one by one. */
  readonly onDemand: readonly (PieceSize & { readonly name: string })[];
}

const root = fileURLToPath(new URL('..', import.meta.url));

function piece(files: readonly { name: string; bytes: Uint8Array }[]): PieceSize {
  return {
    files: files.map((f) => f.name),
    minBytes: files.reduce((sum, f) => sum + f.bytes.byteLength, 0),
    gzipBytes: files.reduce((sum, f) => sum + gzipSync(f.bytes).byteLength, 0),
  };
}

/** Relative imports a minified ES chunk makes statically (`import ... from "./x.js"`, `import "./x.js"`), not `import("./x.js")`. */
function staticImports(code: string): string[] {
  const found = new Set<string>();
  for (const match of code.matchAll(/(?:\bfrom\s*|\bimport\s*)["'`]\.\/([^"'`]+)["'`]/g)) found.add(match[1]!);
  return [...found];
}

/**
 * Builds a one-line app entry (bench/sizes/main-entry.ts) as Vite builds an app for production
 * (minified, tree-shaken; rolldown): the entry chunk is the main-thread cost; the worker Vite emits
 * for `new Worker(new URL('./worker/entry.js', import.meta.url))` comes out as separate files, and its
 * entry chunk plus its static imports is the worker's cost before any runtime is imported.
 */
export async function measureSizes(): Promise<SizeReport> {
  const output = await build({
    configFile: false,
    root,
    publicDir: false,
    logLevel: 'warn',
    build: {
      write: false,
      minify: true,
      modulePreload: false,
      rollupOptions: {
        input: { main: fileURLToPath(new URL('./sizes/main-entry.ts', import.meta.url)) },
        preserveEntrySignatures: 'strict',
      },
    },
    worker: { format: 'es' },
  });
  const results = (Array.isArray(output) ? output : [output]) as Rollup.RollupOutput[];
  const files = new Map<string, { name: string; bytes: Uint8Array; isEntry: boolean; imports: readonly string[] }>();
  for (const result of results) {
    for (const item of result.output) {
      const bytes =
        item.type === 'chunk'
          ? new TextEncoder().encode(item.code)
          : typeof item.source === 'string'
            ? new TextEncoder().encode(item.source)
            : item.source;
      const name = item.fileName.replace(/^assets\//, '');
      files.set(name, {
        name,
        bytes,
        isEntry: item.type === 'chunk' && item.isEntry,
        imports: item.type === 'chunk' ? item.imports.map((i) => i.replace(/^assets\//, '')) : [],
      });
    }
  }
  const closure = (start: string, next: (name: string) => readonly string[]): string[] => {
    const seen = new Set<string>();
    const visit = (name: string): void => {
      if (seen.has(name) || !files.has(name)) return;
      seen.add(name);
      next(name).forEach(visit);
    };
    visit(start);
    return [...seen];
  };
  const entry = [...files.values()].find((f) => f.isEntry);
  if (entry === undefined) throw new Error('sizes: no entry chunk');
  const mainNames = closure(entry.name, (name) => files.get(name)!.imports);
  // Worker chunks are emitted as assets: their import graph is read from their code.
  const workerEntry = [...files.keys()].find((name) => /^entry-[\w-]+\.js$/.test(name));
  if (workerEntry === undefined) throw new Error('sizes: the worker entry (entry-*.js) was not emitted');
  const workerNames = closure(workerEntry, (name) =>
    name.endsWith('.js') ? staticImports(new TextDecoder().decode(files.get(name)!.bytes)) : [],
  );
  const taken = new Set([...mainNames, ...workerNames]);
  return {
    method: 'vite build (rolldown, minified) of bench/sizes/main-entry.ts, in memory; gzip with node:zlib (level 6) per file',
    mainThread: piece(mainNames.map((n) => files.get(n)!)),
    workerWithoutRuntimes: piece(workerNames.map((n) => files.get(n)!)),
    onDemand: [...files.values()].filter((f) => !taken.has(f.name)).map((f) => ({ name: f.name, ...piece([f]) })),
  };
}
