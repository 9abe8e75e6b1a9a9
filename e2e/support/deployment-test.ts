import { fileURLToPath } from 'node:url';
import { test as base } from '@playwright/test';
import { Deployment } from './deploy.js';
import { startBundleServer, type BundleServer } from './server.js';

const APP = fileURLToPath(new URL('../../dist/demo/', import.meta.url));

/** Each test: its own deployment folder, served (with faults on demand) by its own server, and a fresh browser context. */
export const test = base.extend<{ deployment: Deployment; server: BundleServer; channelUrl: string }>({
  deployment: async ({}, use) => use(await Deployment.create()),
  server: async ({ deployment }, use) => {
    const server = await startBundleServer(APP, deployment.dir);
    await use(server);
    await server.close();
  },
  channelUrl: async ({ server }, use) => use(`${server.origin}/deploy/penguins/channel.json`),
});
