import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { pack } from '../src/cli/pack.js';
import { startBundleServer, type BundleServer } from './support/server.js';

// Every converted estimator family and every feature-spec step, exported by export_bundle from
// scikit-learn's bundled data (models/ondevice_export/export_cases.py), packed, and gated in Chromium:
// the gate compares the browser's features and outputs with scikit-learn's on held-out rows (gaps
// included). Needs Debian's Python packages (as the exporter's own tests); skipped without them.
const PYTHON = '/usr/bin/python3';
const hasPython = spawnSync(PYTHON, ['-c', 'import sklearn, onnx, pandas, xgboost'], { stdio: 'ignore' }).status === 0;
const APP = fileURLToPath(new URL('../dist/demo/', import.meta.url));
const SCRIPT = fileURLToPath(new URL('../models/ondevice_export/export_cases.py', import.meta.url));

test.use({ serviceWorkers: 'block' });
test.setTimeout(240_000);

// As scripts/test-exporter.mjs does for the exporter's own tests: without the research packages the
// suite is not defined, and says so once; npm test must not need Python.
if (hasPython) defineSuite();
else console.log(`estimators.spec.ts not run: ${PYTHON} lacks scikit-learn, onnx, pandas or xgboost (Debian's python3-* packages)`);

function defineSuite(): void {
  let server: BundleServer;
  let cases: Record<string, { kind: string; what: string; dtype: string }> = {};
  const sizes: Record<string, { bytes: number; sets: number }> = {};

  test.beforeAll(async () => {
    test.setTimeout(240_000);
    const builds = await mkdtemp(join(tmpdir(), 'ondevice-cases-'));
    const out = await mkdtemp(join(tmpdir(), 'ondevice-cases-packed-'));
    execFileSync(PYTHON, [SCRIPT, builds], {
      env: { ...process.env, OMP_NUM_THREADS: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 180_000,
    });
    cases = JSON.parse(await readFile(join(builds, 'cases.json'), 'utf8')) as typeof cases;
    for (const name of Object.keys(cases)) {
      const { manifest } = await pack({ source: join(builds, name), out });
      const files = Object.entries(manifest.files) as [string, { size: number }][];
      sizes[name] = {
        bytes: files.reduce((sum, [, f]) => sum + f.size, 0),
        sets: files.filter(([role]) => role === 'e2eSet' || role === 'confidenceSet').reduce((sum, [, f]) => sum + f.size, 0),
      };
    }
    server = await startBundleServer(APP, out);
  });

  test.afterAll(async () => {
    await server?.close();
  });

  test('every estimator and step passes its gate in Chromium: the browser equals scikit-learn within the tolerance', async ({ page }) => {
    await page.goto(`${server.origin}/harness.html`);
    await page.waitForFunction(() => document.body.dataset.ready === 'true');
    const rows: string[] = [];
    for (const [name, { kind, what, dtype }] of Object.entries(cases)) {
      const gate = await page.evaluate(async (channel) => {
        const model = await window.ondevice.load(channel, { threads: 1 });
        const info = await model.info();
        await model.dispose();
        return info.gate;
      }, `/deploy/${name}/channel.json`);
      expect(gate.passed, `${name}: ${JSON.stringify(gate.endToEnd.worst)}`).toBe(true);
      const { bytes, sets } = sizes[name]!;
      rows.push(
        `| ${kind} | ${what} | accepted | ${gate.endToEnd.maxDifference.toExponential(1)} (${dtype}, tolerance ${gate.endToEnd.tolerance}) | ${bytes.toLocaleString('en')} B | ${((100 * sets) / bytes).toFixed(1)}% |`,
      );
    }
    console.log(
      [
        '| kind | estimator or step | status | max diff browser vs scikit-learn | bundle | sets |',
        '|---|---|---|---|---|---|',
        ...rows,
      ].join('\n'),
    );
    expect(rows.length).toBeGreaterThanOrEqual(28);
  });
}
