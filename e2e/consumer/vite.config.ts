import { defineConfig } from 'vite';
import ondevice from 'ondevice/vite';

export default defineConfig({
  plugins: [ondevice({ bundles: ['models/penguins/build'], offline: true })],
});
