import { MessageChannel } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { describe, expect, it } from 'vitest';
import { exposeOnce } from '../src/worker/expose.js';
import { holdMessages } from '../src/worker/held-messages.js';
import { entryImportedBack } from '../src/vite/index.js';

describe('a worker serves once, and nothing is lost while it starts', () => {
  it('a second service on one channel is refused; the first answers, messages sent before it listened included', async () => {
    const { port1, port2 } = new MessageChannel();
    const endpoint = port1 as unknown as Comlink.Endpoint & { start(): void };
    const held = holdMessages(endpoint as unknown as EventTarget);
    endpoint.start();
    const remote = Comlink.wrap<{ who(): string }>(port2 as unknown as Comlink.Endpoint);
    // Sent while the service's code is still "loading".
    const early = remote.who();
    await new Promise((resolve) => setTimeout(resolve, 20));
    exposeOnce({ who: () => 'first' }, held, endpoint);
    expect(() => exposeOnce({ who: () => 'second' }, holdMessages(endpoint as unknown as EventTarget), endpoint)).toThrow(
      /already answers on this channel/,
    );
    expect(await early).toBe('first');
    expect(await remote.who()).toBe('first');
    port1.close();
    port2.close();
  });
});

describe("the build check: a worker's entry chunk stays a leaf", () => {
  it('names an entry another chunk imports, and passes a build whose entries are leaves', () => {
    const leaf = {
      'entry-a.js': { type: 'chunk', isEntry: true, imports: [], dynamicImports: ['serve-b.js'] },
      'serve-b.js': { type: 'chunk', isEntry: false, imports: ['shared-c.js'], dynamicImports: ['onnx-d.js'] },
      'onnx-d.js': { type: 'chunk', isEntry: false, imports: ['shared-c.js'] },
      'shared-c.js': { type: 'chunk', isEntry: false, imports: [] },
      'ort.wasm': { type: 'asset' },
    };
    expect(entryImportedBack(leaf)).toBeUndefined();
    const importedBack = { ...leaf, 'onnx-d.js': { type: 'chunk', isEntry: false, imports: ['entry-a.js'] } };
    expect(entryImportedBack(importedBack)).toMatch(/worker entry entry-a\.js is imported by onnx-d\.js: WebKit would run it twice/);
  });
});
