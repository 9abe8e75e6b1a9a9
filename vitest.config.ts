import { defineConfig } from 'vitest/config';

// Unit tests in Node for everything that is not browser-only; browser behaviour is tested in e2e/.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
  },
});
