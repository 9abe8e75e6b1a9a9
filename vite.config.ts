import { fileURLToPath, pathToFileURL } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

// The plugin as the package ships it: `npm run build` compiles the library to dist/lib first.
const { default: ondevice } = (await import(pathToFileURL(here('./dist/lib/vite/index.js')).href)) as typeof import('./src/vite/index.js');

// The demo app, built with the library's own Vite plugin: it packs every model under models/ into
// /bundles/<name>/, keeps the runtimes lazy, and precaches the app for offline use. `public/` holds
// the icons and the web app manifest.
export default defineConfig({
  root: here('./demo'),
  publicDir: here('./public'),
  build: {
    outDir: here('./dist/demo'),
    emptyOutDir: true,
    rollupOptions: {
      input: { main: here('./demo/index.html'), harness: here('./demo/harness.html') },
    },
  },
  plugins: [
    ondevice({
      bundles: [here('./models')],
      // The browser tests also load the house-prices bundles, TensorFlow.js's among them, and force WebGPU.
      webgpu: true,
      // Threads for onnxruntime-web: the preview server sends the two isolation headers (a site serving the demo sets them too).
      crossOriginIsolation: true,
      // The app and the bundles the demo page loads work offline; the other bundles are there for the browser tests.
      offline: { bundles: ['penguins', 'digits', 'tone-detector'] },
    }),
  ],
});
