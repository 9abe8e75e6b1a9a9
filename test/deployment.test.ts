import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Deployment } from '../src/worker/deployment.js';
import type { DeploymentEvent } from '../src/worker/protocol.js';
import { Deployment as Publisher } from '../e2e/support/deploy.js';
import { BundleServer, memoryIo as io } from './bundle-server.js';

// The deployment in Node, over a real local HTTP server and an in-memory store.
let publisher: Publisher;
let server: BundleServer;
let channelUrl: string;

beforeEach(async () => {
  publisher = await Publisher.create();
  server = await BundleServer.start(publisher.dir);
  channelUrl = `${server.origin}/penguins/channel.json`;
});

afterEach(async () => {
  await server.close();
});

describe('Deployment lifecycle', () => {
  it('starts, updates while serving, and restarts from its store without the network', async () => {
    await publisher.publish('1.0.0');
    const store = io();
    const events: DeploymentEvent[] = [];
    const deployment = new Deployment(channelUrl, { checkForUpdates: false }, (e) => events.push(e), undefined, store);
    await deployment.start();
    expect(deployment.info()).toMatchObject({ version: '1.0.0', source: 'network', storage: 'memory' });
    await publisher.publish('1.1.0');
    expect(await deployment.update()).toMatchObject({ status: 'activated', version: '1.1.0' });
    expect(events.map((e) => e.type)).toEqual(['update-available', 'installed', 'activated']);
    await deployment.dispose();

    await server.close();
    const again = new Deployment(channelUrl, { checkForUpdates: false }, () => undefined, undefined, store);
    await again.start();
    expect(again.info()).toMatchObject({ version: '1.1.0', source: 'cache' });
    await again.dispose();
    server = await BundleServer.start(publisher.dir);
  });

  it('dispose() during an update check: the check stops, nothing activates, is stored or emitted, and nothing throws', async () => {
    await publisher.publish('1.0.0');
    const store = io();
    const events: DeploymentEvent[] = [];
    const deployment = new Deployment(
      channelUrl,
      { checkForUpdates: false, updateIntervalMs: 50 },
      (e) => events.push(e),
      undefined,
      store,
    );
    await deployment.start();
    await publisher.publish('1.1.0');
    server.holdSuffix = '1.1.0/model.onnx';
    const checking = deployment.update();
    await expect.poll(() => server.heldCount).toBe(1);
    await deployment.dispose();
    // The held file arrives after dispose: too late to matter.
    server.release();
    expect(await checking).toMatchObject({ status: 'failed', code: 'DISPOSED' });
    expect(await deployment.update()).toMatchObject({ status: 'failed', code: 'DISPOSED' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(events.map((e) => e.type)).toEqual(['update-available']);
    const record = await store.store.readRecord(channelUrl);
    expect(record?.versions.map((v) => `${v.version} ${v.status}`)).toEqual(['1.0.0 good']);
    expect(() => deployment.info()).toThrow(/no model is serving/);
  });

  it('dispose() during start: start rejects with StateError DISPOSED and serves nothing', async () => {
    await publisher.publish('1.0.0');
    server.holdSuffix = '1.0.0/model.onnx';
    const deployment = new Deployment(channelUrl, {}, () => undefined, undefined, io());
    const starting = deployment.start();
    await expect.poll(() => server.heldCount).toBe(1);
    await deployment.dispose();
    server.release();
    await expect(starting).rejects.toMatchObject({ name: 'StateError', code: 'DISPOSED' });
  });
});
