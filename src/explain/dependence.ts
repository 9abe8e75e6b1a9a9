import { InputError } from '../errors/index.js';
import type { ConfidenceSet } from '../gate/index.js';
import { categoryCodes } from '../features/index.js';
import type { Scorer } from '../scoring/index.js';
import {
  CHUNK_ROWS,
  describeOutput,
  pause,
  predictedClasses,
  readClass,
  readCount,
  readOutputs,
  scoreBackground,
  tabularTransform,
  type Background,
  type RunOptions,
} from './shared.js';

export interface PartialDependenceOptions extends RunOptions {
  /**
   * The field's values to evaluate (numbers for a number field, categories for a category field),
   * 1 to 1,000.
   * @defaultValue number fields: `gridSize` quantiles of the background; category fields: the
   * categories that occur in it (see `partialDependence`)
   */
  readonly grid?: readonly (number | string)[];
  /**
   * Number fields without `grid`: how many quantiles, 1 to 1,000.
   * @defaultValue `20` (`DEFAULT_GRID_SIZE`)
   */
  readonly gridSize?: number;
  /**
   * Classification: the class whose probability is averaged.
   * @defaultValue the class the model predicts most often on the background
   */
  readonly class?: string;
}

export interface PartialDependence {
  readonly field: string;
  /** What `average` measures, in words (as `Explanation.output`). */
  readonly output: string;
  readonly class?: string;
  readonly grid: readonly (number | string)[];
  /** Per grid value: the explained output averaged over the background with the field set to it. */
  readonly average: readonly number[];
}

const MAX_GRID = 1000;
/** Quantiles of a number field's grid when neither `grid` nor `gridSize` is given. */
export const DEFAULT_GRID_SIZE = 20;

/**
 * Partial dependence (Friedman 2001) of the explained output on one raw field: per grid value,
 * every background row gets that value's feature columns (computed once, through the feature spec)
 * and the outputs are averaged. Default grid: number fields, `gridSize` quantiles of the
 * background's non-missing values from its minimum to its maximum (observed values, distinct,
 * ascending; every distinct value when there are no more than `gridSize`); category fields, the
 * categories the model accepts by name that occur in the background, in the model's order (all of
 * them if none occurs). A bad grid value throws the transform's `InputError` (its `row` is the grid
 * index). Progress counts grid values.
 */
export async function partialDependence(
  scorer: Scorer,
  background: ConfidenceSet,
  field: string,
  options: PartialDependenceOptions = {},
): Promise<PartialDependence> {
  const transform = tabularTransform(scorer, 'partialDependence');
  const entry = transform.fieldColumns.find((f) => f.field === field);
  if (entry === undefined) {
    const name = String(field).slice(0, 40);
    throw new InputError('UNEXPECTED_FIELD', `"${name}" is not one of the model's fields`, { field: name });
  }
  const requestedClass = readClass(scorer.task, options.class);
  const gridSize = readCount(options.gridSize, 'gridSize', DEFAULT_GRID_SIZE, MAX_GRID);
  if (options.grid !== undefined && (!Array.isArray(options.grid) || options.grid.length === 0 || options.grid.length > MAX_GRID)) {
    throw new InputError('INVALID_OPTION', `grid must be an array of 1 to ${MAX_GRID} values`, { field: 'grid' });
  }

  await pause(options.signal, 'partialDependence');
  const base = await scoreBackground(scorer, background);
  const grid = options.grid === undefined ? defaultGrid(scorer, base, field, gridSize) : [...options.grid];
  const n = base.rows;
  const width = transform.width;
  // The grid values' own columns, through the spec: any background row carries them.
  const template = background.rows[0] as Record<string, unknown>;
  const gridFeatures =
    grid.length === 0 ? new Float64Array(0) : transform.prepare(grid.map((value) => ({ ...template, [field]: value }))).features!;
  const classIndex = requestedClass ?? mostPredicted(scorer, base);

  const average: number[] = [];
  const perChunk = Math.max(1, Math.floor(CHUNK_ROWS / n));
  for (let start = 0; start < grid.length; start += perChunk) {
    if (start > 0) await pause(options.signal, 'partialDependence');
    const count = Math.min(perChunk, grid.length - start);
    const matrix = new Float64Array(count * n * width);
    for (let k = 0; k < count; k++) {
      const offset = k * n * width;
      matrix.set(base.features, offset);
      for (let r = 0; r < n; r++) for (const c of entry.columns) matrix[offset + r * width + c] = gridFeatures[(start + k) * width + c]!;
    }
    const out = readOutputs(scorer.task, await scorer.scoreFeatures(matrix, count * n), classIndex);
    for (let k = 0; k < count; k++) {
      let sum = 0;
      for (let r = 0; r < n; r++) sum += out[k * n + r]!;
      average.push(sum / n);
    }
    options.onProgress?.({ done: start + count, total: grid.length });
  }
  return {
    field,
    output: describeOutput(scorer.task, classIndex),
    ...(scorer.task.kind === 'classification' ? { class: scorer.task.classes[classIndex]! } : {}),
    grid,
    average,
  };
}

function defaultGrid(scorer: Scorer, base: Background, field: string, gridSize: number): (number | string)[] {
  const input = scorer.transform.inputs.find((i) => i.name === field);
  const raw = base.batch.raw;
  if (input?.type === 'category') {
    const levels = scorer.transform.levels.get(field) ?? [];
    const present = new Set<string>();
    for (const code of (raw === undefined ? undefined : categoryCodes(raw, field)) ?? []) if (code >= 0) present.add(levels[code]!);
    const seen = input.categories.filter((c) => present.has(c));
    return seen.length > 0 ? seen : [...input.categories];
  }
  const values = Float64Array.from((raw?.numbers.get(field) ?? []).filter((v) => !Number.isNaN(v))).sort();
  const distinct = values.filter((v, i) => i === 0 || v !== values[i - 1]);
  if (distinct.length <= gridSize) return Array.from(distinct);
  const grid: number[] = [];
  for (let k = 0; k < gridSize; k++) {
    // Observed values only (no interpolation): a grid of 2.5 bathrooms would be no house at all.
    const v = values[gridSize === 1 ? Math.floor((values.length - 1) / 2) : Math.round(((values.length - 1) * k) / (gridSize - 1))]!;
    if (grid.length === 0 || v !== grid[grid.length - 1]) grid.push(v);
  }
  return grid;
}

/** The class the model predicts most often on the background (the first on ties). */
function mostPredicted(scorer: Scorer, base: Background): number {
  const task = scorer.task;
  if (task.kind !== 'classification') return 0;
  const counts = new Array<number>(task.classes.length).fill(0);
  for (const c of predictedClasses(task, base.batch)) counts[c]!++;
  return counts.indexOf(Math.max(...counts));
}
