import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { memoryStore, type BundleIo } from '../src/bundle/index.js';
import { fileOrNetworkFetch } from '../src/node/index.js';
import { Deployment } from '../src/worker/deployment.js';
import type { DeploymentEvent } from '../src/worker/protocol.js';
import { Deployment as Publisher } from '../e2e/support/deploy.js';

// The deployment in Node, over a real local HTTP server and an in-memory store.
interface Held {
  /** Requests whose path ends with this wait until `release()`. */
  suffix: string | undefined;
  waiting: (() => void)[];
}

let publisher: Publisher;
let server: Server;
let channelUrl: string;
const held: Held = { suffix: undefined, waiting: [] };

beforeEach(async () => {
  publisher = await Publisher.create();
  held.suffix = undefined;
  held.waiting = [];
  server = createServer((request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
    const send = (): void =>
      void stat(join(publisher.dir, path)).then(
        (info) => createReadStream(join(publisher.dir, path)).pipe(response.writeHead(200, { 'content-length': String(info.size) })),
        () => response.writeHead(404).end(),
      );
    if (held.suffix !== undefined && path.endsWith(held.suffix)) held.waiting.push(send);
    else send();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  channelUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/penguins/channel.json`;
});

afterEach(async () => {
  for (const send of held.waiting.splice(0)) send();
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const io = (): BundleIo => ({ fetch: fileOrNetworkFetch, store: memoryStore() });

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

    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const again = new Deployment(channelUrl, { checkForUpdates: false }, () => undefined, undefined, store);
    await again.start();
    expect(again.info()).toMatchObject({ version: '1.1.0', source: 'cache' });
    await again.dispose();
    server.listen(0);
  });

  it('dispose() during an update check: the check stops, nothing activates, is stored or emitted, and nothing throws', async () => {
    await publisher.publish('1.0.0');
    const store = io();
    const events: DeploymentEvent[] = [];
    const deployment = new Deployment(channelUrl, { checkForUpdates: false, updateIntervalMs: 50 }, (e) => events.push(e), undefined, store);
    await deployment.start();
    await publisher.publish('1.1.0');
    held.suffix = '1.1.0/model.onnx';
    const checking = deployment.update();
    await expect.poll(() => held.waiting.length).toBe(1);
    await deployment.dispose();
    // The held file arrives after dispose: too late to matter.
    for (const send of held.waiting.splice(0)) send();
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
    held.suffix = '1.0.0/model.onnx';
    const deployment = new Deployment(channelUrl, {}, () => undefined, undefined, io());
    const starting = deployment.start();
    await expect.poll(() => held.waiting.length).toBe(1);
    await deployment.dispose();
    for (const send of held.waiting.splice(0)) send();
    await expect(starting).rejects.toMatchObject({ name: 'StateError', code: 'DISPOSED' });
  });
});
