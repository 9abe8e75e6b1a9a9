import { readFileSync } from 'node:fs';
import type { Page } from '@playwright/test';
import type { HarnessApi } from '../demo/harness.js';

export interface EndToEndSet {
  rows: Record<string, unknown>[];
  expected: { probabilities: number[][]; label: string[] };
}

/** The research pipeline's own rows and outputs, as the training script wrote them. */
export const e2eSet: EndToEndSet = JSON.parse(readFileSync(new URL('../models/penguins/build/e2e-set.json', import.meta.url), 'utf8'));
export const classes: string[] = JSON.parse(readFileSync(new URL('../models/penguins/build/model-card.json', import.meta.url), 'utf8')).task.classes;

export const CHANNEL = 'bundles/penguins/channel.json';

/** Opens the library's test page and waits until `window.ondevice` is there. */
export async function openHarness(page: Page): Promise<void> {
  await page.goto('harness.html');
  await page.waitForFunction(() => document.body.dataset.ready === 'true');
}

export type Harness = HarnessApi;
declare global {
  interface Window {
    ondevice: HarnessApi;
    /** A model kept between page.evaluate calls, and the deployment events it sent. */
    model?: Awaited<ReturnType<HarnessApi['load']>>;
    events?: { type: string; version?: string; code?: string }[];
  }
}
