import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

/**
 * Cross-origin isolation, so onnxruntime-web may use threads (SharedArrayBuffer). A site serving the
 * demo (or an app using ondevice) sets the same two headers; without them the model runs on one thread.
 */
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

// The demo app. `public/` holds the icons and, after `npm run pack:models`, the packed bundles.
export default defineConfig({
  server: { headers: isolation },
  preview: { headers: isolation },
  root: here('./demo'),
  publicDir: here('./public'),
  build: {
    outDir: here('./dist/demo'),
    emptyOutDir: true,
    rollupOptions: {
      input: { main: here('./demo/index.html'), harness: here('./demo/harness.html') },
    },
  },
  // The worker loads onnxruntime-web lazily: code splitting needs ES module workers.
  worker: { format: 'es' },
  plugins: [
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: false,
      manifest: {
        name: 'ondevice — models in your browser',
        short_name: 'ondevice',
        description: 'A trained model predicting in your browser, offline.',
        theme_color: '#0f3d5e',
        background_color: '#f7f7f4',
        display: 'standalone',
        start_url: '.',
        icons: [
          { src: 'icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: 'icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: 'icons/icon.svg', sizes: 'any', type: 'image/svg+xml' },
        ],
      },
      workbox: {
        // The app, the runtime's .wasm and the bundles the demo loads: all of it works offline. (The other
        // packed bundles are served for the browser tests, not precached for every visitor.)
        globPatterns: ['**/*.{html,js,css,wasm,png,svg,webmanifest}', 'bundles/{penguins,digits}/**/*'],
        // onnxruntime-web's WebGPU build (27 MB) is fetched only by devices that choose WebGPU.
        globIgnores: ['**/ort.webgpu.bundle*', '**/ort-wasm-simd-threaded.asyncify*', '**/ort-wasm-simd-threaded.jsep*'],
        maximumFileSizeToCacheInBytes: 64 * 1024 * 1024,
        navigateFallback: 'index.html',
        navigateFallbackDenylist: [/harness\.html$/],
        cleanupOutdatedCaches: true,
        clientsClaim: true,
        skipWaiting: true,
      },
    }),
  ],
});
