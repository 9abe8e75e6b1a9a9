import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from 'chart.js';
import { OndeviceError, type DriftEvent, type Explanation, type MonitorReport, type OndeviceModel } from '../src/index.js';

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip, Legend);

const ACCENT = '#0f3d5e';
const WARN = '#c0392b';
const MUTED = '#9aa5b1';

/**
 * The "why" and "is it still the world it learned from" panel: the attribution chart of the current
 * prediction, the drift picture per feature, and a button that feeds a shifted sample.
 */
export class InsightPanel {
  readonly #model: OndeviceModel;
  readonly #root: HTMLElement;
  readonly #attributionChart: Chart<'bar'>;
  readonly #driftChart: Chart<'bar'>;
  readonly #binsChart: Chart<'bar'>;
  #explaining: AbortController | undefined;
  #selectedField: string | undefined;

  constructor(model: OndeviceModel, root: HTMLElement) {
    this.#model = model;
    this.#root = root;
    this.#attributionChart = horizontalBars(this.#canvas('attribution-chart'), 'contribution to the probability');
    this.#driftChart = horizontalBars(this.#canvas('drift-chart'), 'population stability index');
    this.#binsChart = new Chart(this.#canvas('bins-chart'), {
      type: 'bar',
      data: {
        labels: [],
        datasets: [
          { label: 'training', data: [], backgroundColor: MUTED },
          { label: 'live', data: [], backgroundColor: ACCENT },
        ],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: { y: { title: { display: true, text: 'share of rows' } } },
      },
    });
    this.#driftChart.options.onClick = (_event, elements) => {
      const index = elements[0]?.index;
      if (index === undefined) return;
      this.#selectedField = String(this.#driftChart.data.labels?.[index]);
      void this.refreshDrift();
    };
    model.on('drift', (event) => this.#alert(event));
    this.#part<HTMLButtonElement>('shift').addEventListener('click', () => void this.#feedShifted());
  }

  /** Explains the prediction for `row`; a newer call cancels the one still running. */
  async explain(row: Readonly<Record<string, unknown>>): Promise<void> {
    this.#explaining?.abort();
    const controller = new AbortController();
    this.#explaining = controller;
    const status = this.#part('attribution-status');
    status.textContent = 'explaining…';
    let explanation: Explanation;
    try {
      explanation = await this.#model.explain(row, {
        samples: 516,
        signal: controller.signal,
        onProgress: ({ done, total }) => void (status.textContent = `explaining… ${Math.round((100 * done) / total)}%`),
      });
    } catch (error) {
      if (error instanceof OndeviceError && error.code === 'CANCELLED') return;
      status.textContent = error instanceof Error ? error.message : String(error);
      return;
    }
    const ordered = [...explanation.attributions].sort((a, b) => Math.abs(b.attribution) - Math.abs(a.attribution));
    const chart = this.#attributionChart;
    chart.data.labels = ordered.map((a) => `${a.field} = ${a.value === null ? 'missing' : String(a.value)}`);
    chart.data.datasets[0]!.data = ordered.map((a) => a.attribution);
    chart.data.datasets[0]!.backgroundColor = ordered.map((a) => (a.attribution >= 0 ? ACCENT : WARN));
    chart.update();
    const sum = explanation.attributions.reduce((total, a) => total + a.attribution, 0);
    const bound = explanation.method === 'exact-linear' ? 'exact' : `each within ±${explanation.errorBound.toFixed(3)} (95%)`;
    status.textContent = `${explanation.output}: ${explanation.value.toFixed(3)} = average ${explanation.baseValue.toFixed(3)} ${sum >= 0 ? '+' : '−'} ${Math.abs(sum).toFixed(3)} from the fields below; ${bound}, ${explanation.samples} samples`;
    const box = this.#part('attributions');
    box.dataset.method = explanation.method;
    box.dataset.sum = String(sum);
    box.dataset.difference = String(explanation.value - explanation.baseValue);
    box.dataset.fields = String(explanation.attributions.length);
  }

  async refreshDrift(): Promise<void> {
    const report = await this.#model.monitor();
    this.#showDrift(report);
  }

  #showDrift(report: MonitorReport): void {
    const status = this.#part('drift-status');
    const drift = report.drift;
    if (drift === undefined) {
      status.textContent = 'this bundle ships no reference statistics: drift is not measured';
      return;
    }
    const features = [...drift.features].sort((a, b) => b.psi - a.psi);
    const chart = this.#driftChart;
    chart.data.labels = features.map((f) => f.field);
    chart.data.datasets[0]!.data = features.map((f) => f.psi);
    chart.data.datasets[0]!.backgroundColor = features.map((f) =>
      f.drifted ? WARN : f.psi > drift.thresholds.psi / 2 ? '#d68910' : ACCENT,
    );
    chart.update();
    const box = this.#part('drift');
    box.dataset.status = drift.status;
    box.dataset.drifted = drift.drifted.join(',');
    status.textContent =
      drift.status === 'collecting'
        ? `collecting: ${Math.round(drift.rows)} of ${drift.thresholds.minRows} rows needed before drift is judged`
        : drift.status === 'drift'
          ? `drift in ${drift.drifted.join(', ')} (PSI above ${drift.thresholds.psi}) over the last ${Math.round(drift.rows)} rows`
          : `no drift over the last ${Math.round(drift.rows)} rows (every PSI below ${drift.thresholds.psi})`;
    const selected = drift.features.find((f) => f.field === this.#selectedField) ?? features[0];
    if (selected === undefined) return;
    this.#part('bins-title').textContent = `${selected.field}: training vs live (click a bar above to choose)`;
    this.#binsChart.data.labels = selected.bins.map((b) => b.label);
    this.#binsChart.data.datasets[0]!.data = selected.bins.map((b) => b.reference);
    this.#binsChart.data.datasets[1]!.data = selected.bins.map((b) => b.live);
    this.#binsChart.update();
  }

  #alert(event: DriftEvent): void {
    const alert = this.#part('drift-alert');
    alert.hidden = false;
    alert.textContent = `Drift alert (${event.version}): ${event.features.map((f) => `${f.field} PSI ${f.psi.toFixed(2)}`).join(', ')}${event.output ? '; the answers moved too' : ''}`;
    alert.dataset.features = event.features.map((f) => f.field).join(',');
  }

  /** Penguins from a world the model never saw: heavier birds with longer flippers, mostly on one island. */
  async #feedShifted(): Promise<void> {
    const button = this.#part<HTMLButtonElement>('shift');
    button.disabled = true;
    let seed = 7;
    const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const rows = Array.from({ length: 400 }, () => ({
      island: random() < 0.8 ? 'Torgersen' : 'Dream',
      sex: random() < 0.5 ? 'male' : 'female',
      bill_length_mm: 50 + random() * 10,
      bill_depth_mm: 19 + random() * 3,
      flipper_length_mm: 225 + random() * 20,
      body_mass_g: 6200 + random() * 1200,
    }));
    await this.#model.predictBatch(rows);
    await this.refreshDrift();
    button.disabled = false;
  }

  #part<T extends HTMLElement = HTMLElement>(testId: string): T {
    const element = this.#root.querySelector<T>(`[data-testid="${testId}"]`);
    if (element === null) throw new Error(`the insight panel has no ${testId}`);
    return element;
  }

  #canvas(testId: string): HTMLCanvasElement {
    return this.#part<HTMLCanvasElement>(testId);
  }
}

function horizontalBars(canvas: HTMLCanvasElement, axis: string): Chart<'bar'> {
  return new Chart(canvas, {
    type: 'bar',
    data: { labels: [], datasets: [{ label: axis, data: [], backgroundColor: ACCENT }] },
    options: {
      indexAxis: 'y',
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      plugins: { legend: { display: false } },
      scales: { x: { title: { display: true, text: axis } } },
    },
  });
}
