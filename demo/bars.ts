/** Probability bars, one per class, each carrying its exact value in data attributes (the tests read them). */
export function renderBars(container: HTMLElement, probabilities: Readonly<Record<string, number>>): void {
  container.replaceChildren(
    ...Object.entries(probabilities).map(([name, p]) => {
      const bar = document.createElement('div');
      bar.className = 'bar';
      bar.dataset.class = name;
      bar.dataset.probability = String(p);
      const track = document.createElement('div');
      track.className = 'track';
      const fill = document.createElement('div');
      fill.className = 'fill';
      fill.style.width = `${(p * 100).toFixed(2)}%`;
      track.append(fill);
      const value = document.createElement('output');
      value.textContent = `${(p * 100).toFixed(1)}%`;
      bar.append(name, track, value);
      return bar;
    }),
  );
}
