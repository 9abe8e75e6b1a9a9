import { renderBars } from './bars.js';
import { startDigits } from './digits.js';
import { startStream } from './stream.js';
import { InsightPanel } from './insight.js';
import { OndeviceError, load, type InputField, type ModelInfo, type OndeviceModel, type Prediction } from '../src/index.js';

const CHANNEL = 'bundles/penguins/channel.json';
// A plausible bird to start from (Gentoo-like measurements).
const DEFAULTS: Readonly<Record<string, string>> = {
  island: 'Biscoe',
  sex: 'female',
  bill_length_mm: '46.5',
  bill_depth_mm: '14.8',
  flipper_length_mm: '215',
  body_mass_g: '5000',
};
const UNITS: Readonly<Record<string, string>> = { bill_length_mm: 'mm', bill_depth_mm: 'mm', flipper_length_mm: 'mm', body_mass_g: 'g' };

const byId = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const form = byId<HTMLFormElement>('penguin');
const fieldsBox = byId<HTMLDivElement>('fields');
const predictButton = byId<HTMLButtonElement>('predict');
const statusList = byId<HTMLDListElement>('status');
const progress = byId<HTMLProgressElement>('download');
const errorBox = byId<HTMLParagraphElement>('error');

showNetwork();
addEventListener('online', showNetwork);
addEventListener('offline', showNetwork);

void start();
void startDigits(byId('digits'));
startStream(byId('stream'));

async function start(): Promise<void> {
  const started = performance.now();
  let model: OndeviceModel;
  try {
    model = await load(CHANNEL, {
      onProgress: (step) => {
        // Bytes downloaded (or read back from the device and checked), then the runtime and the gate.
        if (step.phase !== 'download' && step.phase !== 'verify') return;
        progress.hidden = false;
        progress.value = step.totalBytes === 0 ? 1 : step.loadedBytes / step.totalBytes;
      },
    });
  } catch (error) {
    showStatus([
      ['State', 'refused'],
      ['Why', describe(error)],
    ]);
    document.body.dataset.state = 'failed';
    return;
  }
  const info = await model.info();
  const loadMs = performance.now() - started;
  progress.hidden = true;
  showInfo(info, loadMs);
  watchUpdates(model);
  buildForm(info.inputs);
  const insight = new InsightPanel(model, byId('insight'));
  predictButton.disabled = false;
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void predict(model, insight);
  });
  await predict(model, insight);
  document.body.dataset.state = 'ready';
}

async function predict(model: OndeviceModel, insight: InsightPanel): Promise<void> {
  const row = readForm();
  const started = performance.now();
  try {
    const prediction = await model.predict(row);
    showPrediction(prediction, performance.now() - started);
    errorBox.hidden = true;
    void insight.explain(row);
    void insight.refreshDrift();
  } catch (error) {
    errorBox.hidden = false;
    errorBox.textContent = describe(error);
    if (error instanceof OndeviceError) errorBox.dataset.code = error.code;
  }
}

function buildForm(inputs: readonly InputField[]): void {
  fieldsBox.replaceChildren(
    ...inputs.map((input) => {
      if (input.type === 'tensor') throw new Error(`the penguin form cannot edit tensor input "${input.name}"`);
      const label = document.createElement('label');
      const unit = UNITS[input.name];
      label.append(`${input.name.replaceAll('_', ' ').replace(/ (mm|g)$/, '')}${unit ? ` (${unit})` : ''}`);
      let control: HTMLInputElement | HTMLSelectElement;
      if (input.type === 'category') {
        control = document.createElement('select');
        for (const category of input.categories ?? []) control.add(new Option(category, category));
        if (input.missing === 'impute') control.add(new Option('unknown', ''));
      } else {
        control = document.createElement('input');
        control.type = 'number';
        control.step = 'any';
        control.inputMode = 'decimal';
        control.placeholder = input.missing === 'impute' ? 'missing' : 'required';
      }
      control.name = input.name;
      control.dataset.type = input.type;
      control.value = DEFAULTS[input.name] ?? '';
      control.addEventListener('change', () => form.requestSubmit());
      label.append(control);
      return label;
    }),
  );
}

/** Empty means missing (null). Numbers are sent as numbers; anything else as typed, for the model to judge. */
function readForm(): Record<string, unknown> {
  const row: Record<string, unknown> = {};
  for (const control of form.querySelectorAll<HTMLInputElement | HTMLSelectElement>('input, select')) {
    const text = control.value.trim();
    if (text === '') row[control.name] = null;
    else if (control.dataset.type === 'number') row[control.name] = Number.isNaN(Number(text)) ? text : Number(text);
    else row[control.name] = text;
  }
  return row;
}

function showPrediction(prediction: Prediction, ms: number): void {
  const bars = byId<HTMLDivElement>('bars');
  if (prediction.kind !== 'classification') {
    byId('label').textContent = prediction.kind === 'regression' ? prediction.value.toPrecision(6) : prediction.kind;
    bars.replaceChildren();
    return;
  }
  byId('label').textContent = prediction.label;
  renderBars(bars, prediction.probabilities);
  byId('latency').textContent = `answered in ${ms.toFixed(1)} ms (worker round trip)`;
}

function showInfo(info: ModelInfo, loadMs: number): void {
  const { gate, runtime } = info;
  showStatus([
    ['State', 'serving'],
    ['Version', `${info.name} ${info.version}`],
    ['Runtime', `${runtime.name} (${runtime.backend}, ${runtime.threads} thread${runtime.threads === 1 ? '' : 's'})`],
    ['Loaded from', info.source === 'cache' ? 'cache (no network)' : `network, ${(info.bundleBytes / 1024).toFixed(1)} KiB verified`],
    ['Gate', gate.passed ? 'passed' : 'failed'],
    [
      'End-to-end',
      `${gate.endToEnd.compared - gate.endToEnd.mismatches}/${gate.endToEnd.compared} values within ${gate.endToEnd.tolerance} (max diff ${gate.endToEnd.maxDifference.toExponential(1)})`,
    ],
    [
      'Confidence set',
      gate.metric === undefined
        ? 'no metric (unlabelled model)'
        : `${gate.metric.name} ${gate.metric.value.toFixed(3)} on ${gate.metric.rows} rows, range [${gate.metric.range.join(', ')}]`,
    ],
    ...(Number.isNaN(loadMs) ? [] : [['Ready in', `${loadMs.toFixed(0)} ms`] as const]),
    ['Content', info.contentHash.slice(0, 16)],
    ['Rollout', describeRollout(info)],
  ]);
  statusList.dataset.version = info.version;
  statusList.dataset.source = info.source;
  statusList.dataset.runtime = `${runtime.name}/${runtime.backend}`;
}

/** The strategy in force, this user's bucket and assignment, and how a shadow candidate compares. */
function describeRollout(info: ModelInfo): string {
  const rollout = info.rollout;
  switch (rollout.strategy) {
    case 'canary':
      return `canary: ${((rollout.share ?? 0) * 100).toFixed(0)}% of users on ${rollout.candidate}; your bucket ${(rollout.bucket ?? 0).toFixed(3)} -> ${rollout.assigned}`;
    case 'shadow': {
      const shadow = rollout.shadow;
      return shadow === undefined || shadow.comparisons === 0
        ? `shadow: ${rollout.candidate} scores beside ${info.version}, no comparisons yet`
        : `shadow: ${rollout.candidate} agrees on ${(shadow.agreement * 100).toFixed(1)}% of ${shadow.comparisons} rows (mean |diff| ${shadow.meanAbsoluteDifference.toExponential(1)})`;
    }
    case 'bandit':
      return `bandit over ${Object.entries(rollout.arms ?? {})
        .map(([v, a]) => `${v} (${a.successes.toFixed(0)}/${(a.successes + a.failures).toFixed(0)})`)
        .join(', ')}`;
    default:
      return `single: everyone on ${info.version}${rollout.note ? ` (${rollout.note})` : ''}`;
  }
}

function showStatus(entries: readonly (readonly [string, string])[]): void {
  statusList.replaceChildren(
    ...entries.flatMap(([term, value]) => {
      const dt = document.createElement('dt');
      dt.textContent = term;
      const dd = document.createElement('dd');
      dd.textContent = value;
      dd.dataset.term = term;
      return [dt, dd];
    }),
  );
}

/** A new version is checked in the background after a start from cache; the button checks now. */
function watchUpdates(model: OndeviceModel): void {
  const button = byId<HTMLButtonElement>('check-update');
  const status = byId('update-status');
  const say = (text: string): void => void (status.textContent = text);
  model.on('update-available', ({ version }) => say(`downloading ${version}…`));
  model.on('installed', ({ version }) => say(`${version} installed, checking it against its test sets…`));
  model.on('activated', async ({ version }) => {
    say(`now serving ${version}`);
    showInfo(await model.info(), Number.NaN);
  });
  model.on('rejected', ({ version, code }) => say(`${version} refused (${code}); the current version keeps serving`));
  model.on('stale', ({ expires }) => say(`the channel expired on ${expires}`));
  model.on('rollout', async () => showInfo(await model.info(), Number.NaN));
  button.disabled = false;
  button.addEventListener('click', async () => {
    button.disabled = true;
    const result = await model.update();
    if (result.status === 'up-to-date') say(`up to date (${result.version})`);
    if (result.status === 'failed')
      say(navigator.onLine ? `check failed: ${result.reason ?? ''}` : 'offline: serving the installed version');
    button.disabled = false;
  });
}

function showNetwork(): void {
  const badge = byId('network');
  badge.textContent = navigator.onLine ? 'online' : 'offline — served from this device';
  badge.classList.toggle('offline', !navigator.onLine);
}

function describe(error: unknown): string {
  if (error instanceof OndeviceError) return `${error.message} [${error.code}]`;
  return error instanceof Error ? error.message : String(error);
}
