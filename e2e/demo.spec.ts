import { expect, test, type Page } from '@playwright/test';
import { classes, e2eSet } from './fixtures.js';

async function waitReady(page: Page): Promise<void> {
  await expect(page.locator('body')).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
}

async function fillRow(page: Page, row: Record<string, unknown>): Promise<void> {
  for (const [name, value] of Object.entries(row)) {
    const control = page.locator(`[name="${name}"]`);
    const text = value === null ? '' : String(value);
    if ((await control.evaluate((el) => el.tagName)) === 'SELECT') await control.selectOption(text);
    else await control.fill(text);
  }
}

async function readProbabilities(page: Page): Promise<Record<string, number>> {
  return page
    .locator('.bar')
    .evaluateAll((bars) =>
      Object.fromEntries(bars.map((bar) => [(bar as HTMLElement).dataset.class!, Number((bar as HTMLElement).dataset.probability)])),
    );
}

test('the demo shows the research probabilities for the end-to-end rows', async ({ page }) => {
  await page.goto('/');
  await waitReady(page);
  await expect(page.getByTestId('status')).toContainText('onnxruntime-web (wasm');
  await expect(page.getByTestId('status')).toContainText('penguins 1.0.0');

  // Rows with missing values first: the imputation paths, through the real form.
  for (const i of [0, 1, 8, 12, 20]) {
    await fillRow(page, e2eSet.rows[i]!);
    await page.getByRole('button', { name: 'Predict' }).click();
    // Changing a field also predicts; the last answer shown is the one for the whole row.
    await expect(page.getByTestId('label')).toHaveText(e2eSet.expected.label[i]!);
    await expect
      .poll(async () => {
        const shown = await readProbabilities(page);
        return Math.max(...classes.map((name, c) => Math.abs(shown[name]! - e2eSet.expected.probabilities[i]![c]!)));
      })
      .toBeLessThanOrEqual(1e-5);
  }
});

test('the demo works offline after the first visit', async ({ page, context }) => {
  await page.goto('/');
  await waitReady(page);
  // The service worker has precached the app, the runtime and the bundle once it is active.
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await expect.poll(() => page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);

  await context.setOffline(true);
  await page.reload();
  await waitReady(page);
  await expect(page.getByTestId('network')).toContainText('offline');
  await expect(page.getByTestId('status')).toHaveAttribute('data-source', 'cache');

  await fillRow(page, e2eSet.rows[3]!);
  await page.getByRole('button', { name: 'Predict' }).click();
  await expect(page.getByTestId('label')).toHaveText(e2eSet.expected.label[3]!);
  const shown = await readProbabilities(page);
  classes.forEach((name, c) => expect(Math.abs(shown[name]! - e2eSet.expected.probabilities[3]![c]!)).toBeLessThanOrEqual(1e-5));
});

test('the demo shows a typed error for a bad value and keeps serving', async ({ page }) => {
  await page.goto('/');
  await waitReady(page);
  await page.locator('[name="body_mass_g"]').fill('');
  await page.locator('[name="body_mass_g"]').evaluate((el) => ((el as HTMLInputElement).type = 'text'));
  await page.locator('[name="body_mass_g"]').fill('heavy');
  await page.getByRole('button', { name: 'Predict' }).click();
  await expect(page.getByTestId('error')).toBeVisible();
  await expect(page.getByTestId('error')).toHaveAttribute('data-code', 'WRONG_TYPE');
  await expect(page.getByTestId('error')).toContainText('body_mass_g');

  await page.locator('[name="body_mass_g"]').fill('4000');
  await page.getByRole('button', { name: 'Predict' }).click();
  await expect(page.getByTestId('error')).toBeHidden();
});

test('a digit drawn on the canvas is scored as an 8x8 tensor, with probabilities for every digit', async ({ page }) => {
  await page.goto('/');
  const panel = page.getByTestId('digits');
  await expect(panel).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
  await expect(panel).toContainText('digits 1.0.0');
  const canvas = page.getByTestId('digit-canvas');
  await canvas.scrollIntoViewIfNeeded();
  const box = (await canvas.boundingBox())!;
  // A "7": a bar across the top, then a stroke down to the lower left.
  await page.mouse.move(box.x + box.width * 0.25, box.y + box.height * 0.2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.75, box.y + box.height * 0.2, { steps: 10 });
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height * 0.85, { steps: 10 });
  await page.mouse.up();
  await expect(panel).toHaveAttribute('data-predictions', '1');
  const probabilities = await panel
    .locator('.bar')
    .evaluateAll((bars) => bars.map((bar) => Number((bar as HTMLElement).dataset.probability)));
  expect(probabilities).toHaveLength(10);
  expect(Math.abs(probabilities.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-5);
  await expect(page.getByTestId('digit-label')).toHaveText('7');
});

test('the demo explains the prediction with a chart, and feeding shifted penguins raises a drift alert on the drift chart', async ({
  page,
}) => {
  await page.goto('/');
  await waitReady(page);
  const attributions = page.getByTestId('attributions');
  await expect(attributions).toHaveAttribute('data-method', 'sampling-shapley', { timeout: 30_000 });
  await expect(attributions).toHaveAttribute('data-fields', '6');
  const sums = await attributions.evaluate((el) => ({ sum: Number(el.dataset.sum), difference: Number(el.dataset.difference) }));
  expect(Math.abs(sums.sum - sums.difference)).toBeLessThanOrEqual(1e-9);
  await expect(page.getByTestId('attribution-status')).toContainText('probability of');

  await expect(page.getByTestId('drift')).toHaveAttribute('data-status', 'collecting');
  await page.getByTestId('shift').click();
  await expect(page.getByTestId('drift-alert')).toBeVisible();
  await expect(page.getByTestId('drift')).toHaveAttribute('data-status', 'drift');
  const drifted = (await page.getByTestId('drift').getAttribute('data-drifted'))!.split(',');
  expect(drifted).toEqual(expect.arrayContaining(['body_mass_g', 'flipper_length_mm', 'island']));
  await expect(page.getByTestId('drift-alert')).toContainText('body_mass_g');
});

test('the tone detector streams a signal generated on the page through one session, its state carried and reset', async ({ page }) => {
  await page.goto('/');
  const panel = page.getByTestId('stream');
  await page.getByTestId('stream-tone').check();
  // The first Listen loads the model, then streams.
  await page.getByTestId('stream-run').click();
  await expect(panel).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
  await expect(panel).toContainText('tone-detector 1.0.0');
  await expect.poll(async () => Number(await panel.getAttribute('data-steps')), { timeout: 20_000 }).toBeGreaterThanOrEqual(100);
  await expect(page.getByTestId('stream-state')).toContainText('h [2 × 1 × 24]');
  // A clear tone, carried over many frames: heard.
  await expect(page.getByTestId('stream-label')).toHaveText('tone');
  await page.getByTestId('stream-run').click();
  await page.getByTestId('stream-reset').click();
  await expect(page.getByTestId('stream-steps')).toHaveText('0');
  await expect(page.getByTestId('stream-state')).toHaveText('initial state (zeros)');
});
