import { readFileSync } from 'node:fs';
import type { Page } from '@playwright/test';
import type { HarnessApi } from '../demo/harness.js';

export interface EndToEndSet {
  rows: Record<string, unknown>[];
  expected: { probabilities: number[][]; label: string[] };
}

/** The research pipeline's own rows and outputs, as the training script wrote them. */
export const e2eSet: EndToEndSet = JSON.parse(readFileSync(new URL('../models/penguins/build/e2e-set.json', import.meta.url), 'utf8'));
export const classes: string[] = JSON.parse(readFileSync(new URL('../models/penguins/build/model-card.json', import.meta.url), 'utf8')).task
  .classes;

export const CHANNEL = 'bundles/penguins/channel.json';

/** Opens the library's test page and waits until `window.ondevice` is there. */
export async function openHarness(page: Page): Promise<void> {
  await page.goto('harness.html');
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
}

/**
 * From the next page load on, `window.workerCalls` lists the methods the page asks its workers for
 * (comlink's messages name them); a scoring call as `score:<input>/<answer>`, its request's kind.
 */
export async function recordWorkerCalls(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const calls: string[] = [];
    window.workerCalls = calls;
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, message: unknown, ...rest: unknown[]) {
      const path = (message as { path?: unknown } | null)?.path;
      const request = (message as { argumentList?: { value?: { input?: string; answer?: string } }[] } | null)?.argumentList?.[0]?.value;
      if (Array.isArray(path) && path.length > 0)
        calls.push(path[0] === 'score' ? `score:${request?.input}/${request?.answer}` : path.join('.'));
      return (post as (...args: unknown[]) => void).call(this, message, ...rest);
    } as Worker['postMessage'];
  });
}

export type Harness = HarnessApi;
declare global {
  interface Window {
    ondevice: HarnessApi;
    /** A model kept between page.evaluate calls, and the deployment events it sent. */
    model?: Awaited<ReturnType<HarnessApi['load']>>;
    events?: { type: string; version?: string; code?: string }[];
    /** Set by `recordWorkerCalls`. */
    workerCalls?: string[];
  }
}
