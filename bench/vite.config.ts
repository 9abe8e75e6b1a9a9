import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/**
 * The id of a second, independent copy of `onnxruntime-web/wasm`. onnxruntime-web keeps one global
 * `env` and starts its WASM module once per module instance, so the main-thread rival (proxy off) and
 * the proxy-worker rival (`env.wasm.proxy = true`) cannot share one instance in one page. Resolving
 * this id to the same file with a query makes the bundler treat it as a different module: its own
 * chunk, its own `env`, its own `import.meta.url` (which the proxy worker is started from).
 */
export const ORT_PROXY_INSTANCE = 'virtual:ort-proxy-instance';

function ortProxyInstance(): Plugin {
  return {
    name: 'bench:ort-proxy-instance',
    enforce: 'pre',
    async resolveId(source, importer) {
      if (source !== ORT_PROXY_INSTANCE) return null;
      const resolved = await this.resolve('onnxruntime-web/wasm', importer, { skipSelf: true });
      return resolved === null ? null : `${resolved.id}?ort-proxy-instance`;
    },
  };
}

const isolationHeaders = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

// The benchmark page: `npx tsx bench/run.ts` builds it and serves it with its own server (bench/server.ts);
// `npx vite preview -c bench/vite.config.ts` serves it too, cross-origin isolated, for a look by hand.
export default defineConfig({
  root: here('.'),
  // The packed bundles (`npm run pack:models` writes bench/public/bundles/) are served as the demo serves them.
  publicDir: here('./public'),
  // Relative URLs: the same build is served at `/` (isolated) and at `/plain/` (not isolated).
  base: './',
  build: {
    outDir: here('../dist/bench'),
    emptyOutDir: true,
    // Minified as an app would ship it: the cold start counts the bytes the worker and runtimes really cost.
    minify: true,
    sourcemap: false,
    chunkSizeWarningLimit: 100_000,
  },
  worker: { format: 'es', plugins: () => [ortProxyInstance()] },
  plugins: [ortProxyInstance()],
  server: { headers: isolationHeaders },
  preview: { headers: isolationHeaders },
  logLevel: 'warn',
});
