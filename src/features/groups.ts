import { readArray, readLiteral, readNumber, readRecord, type Fail } from '../util/json.js';
import type { FeatureBlock, NumericStep } from './spec.js';

/*
 * Group blocks: scikit-learn steps that mix a row's columns (Normalizer, PolynomialFeatures), which no
 * one-field block can express. A group computes its input blocks' columns, combines them row by row,
 * and each output column may then take one-column numeric steps (a StandardScaler after the group).
 */

/** Each row divided by its norm over the inputs' columns (a norm below 10 machine epsilons divides by 1), as Normalizer. */
export interface NormalizeCombine {
  readonly op: 'normalize';
  readonly norm: 'l1' | 'l2' | 'max';
}

/** Output k is the product of the input columns `terms[k]` lists (an empty term is 1), as PolynomialFeatures. */
export interface PolynomialCombine {
  readonly op: 'polynomial';
  readonly terms: readonly (readonly number[])[];
}

export type Combine = NormalizeCombine | PolynomialCombine;

export interface GroupBlock {
  readonly inputs: readonly (FeatureBlock | GroupBlock)[];
  readonly combine: Combine;
  /** Per output column, its numeric steps; left out: none. */
  readonly outputs?: readonly (readonly NumericStep[])[];
}

export type AnyBlock = FeatureBlock | GroupBlock;

export function isGroup(block: AnyBlock): block is GroupBlock {
  return 'combine' in block;
}

/** A term multiplies at most this many columns (PolynomialFeatures' degree). */
const MAX_DEGREE = 16;
/** Groups within groups, at most (a bundle's JSON cannot make the parser recurse without bound). */
export const MAX_GROUP_DEPTH = 4;

/** What parsing a group needs from spec.ts: reading a block and a numeric step, the width of blocks, and the ceilings. */
export interface GroupReader {
  readonly fail: Fail;
  readonly block: (value: unknown, path: string, depth: number) => AnyBlock;
  readonly numericStep: (value: unknown, path: string) => NumericStep;
  readonly width: (block: AnyBlock) => number;
  readonly maxWidth: number;
}

export function parseGroup(record: Record<string, unknown>, path: string, depth: number, reader: GroupReader): GroupBlock {
  const { fail } = reader;
  if (depth >= MAX_GROUP_DEPTH) fail(path, `nests groups deeper than ${MAX_GROUP_DEPTH}`);
  const list = readArray(record.inputs, `${path}.inputs`, fail);
  if (list.length === 0) fail(`${path}.inputs`, 'must not be empty');
  const inputs = list.map((value, i) => reader.block(value, `${path}.inputs[${i}]`, depth + 1));
  const columns = inputs.reduce((sum, block) => sum + reader.width(block), 0);
  const combine = parseCombine(record.combine, `${path}.combine`, columns, reader);
  const width = combine.op === 'polynomial' ? combine.terms.length : columns;
  if (record.outputs === undefined) return { inputs, combine };
  const outputs = readArray(record.outputs, `${path}.outputs`, fail);
  if (outputs.length !== width) fail(`${path}.outputs`, `has ${outputs.length} entries; the group makes ${width} columns`);
  return {
    inputs,
    combine,
    outputs: outputs.map((steps, k) =>
      readArray(steps, `${path}.outputs[${k}]`, fail).map((step, j) => reader.numericStep(step, `${path}.outputs[${k}][${j}]`)),
    ),
  };
}

function parseCombine(value: unknown, path: string, columns: number, reader: GroupReader): Combine {
  const { fail } = reader;
  const combine = readRecord(value, path, fail);
  const op = readLiteral(combine.op, ['normalize', 'polynomial'] as const, `${path}.op`, fail);
  if (op === 'normalize') return { op, norm: readLiteral(combine.norm, ['l1', 'l2', 'max'] as const, `${path}.norm`, fail) };
  const list = readArray(combine.terms, `${path}.terms`, fail);
  if (list.length === 0 || list.length > reader.maxWidth) fail(`${path}.terms`, `must have 1 to ${reader.maxWidth} terms`);
  const terms = list.map((term, k) => {
    const indices = readArray(term, `${path}.terms[${k}]`, fail);
    if (indices.length > MAX_DEGREE) fail(`${path}.terms[${k}]`, `multiplies ${indices.length} columns; at most ${MAX_DEGREE}`);
    return indices.map((index, m) => {
      const column = readNumber(index, `${path}.terms[${k}][${m}]`, fail);
      if (!Number.isInteger(column) || column < 0 || column >= columns)
        fail(`${path}.terms[${k}][${m}]`, `must be an input column from 0 to ${columns - 1}`);
      return column;
    });
  });
  return { op, terms };
}

/** The smallest norm divided by; below it, 1 (scikit-learn's _handle_zeros_in_scale: 10 * float64 epsilon). */
const TINY_NORM = 10 * Number.EPSILON;

/**
 * Writes `count` rows of the combination: input row i at `input[i * inWidth ...]`, output at
 * `out[start + i * stride ...]`. Products run as scikit-learn's: a term [a, b, c] is x_a * (x_b * x_c).
 */
export function combineRows(
  combine: Combine,
  input: Float64Array,
  inWidth: number,
  count: number,
  out: Float64Array,
  start: number,
  stride: number,
): void {
  if (combine.op === 'polynomial') {
    const { terms } = combine;
    for (let i = 0, at = 0, o = start; i < count; i++, at += inWidth, o += stride) {
      for (let k = 0; k < terms.length; k++) {
        const term = terms[k]!;
        let product = term.length === 0 ? 1 : input[at + term[term.length - 1]!]!;
        for (let m = term.length - 2; m >= 0; m--) product = product * input[at + term[m]!]!;
        out[o + k] = product;
      }
    }
    return;
  }
  const { norm } = combine;
  for (let i = 0, at = 0, o = start; i < count; i++, at += inWidth, o += stride) {
    let total = 0;
    for (let j = 0; j < inWidth; j++) {
      const x = input[at + j]!;
      total = norm === 'l1' ? total + Math.abs(x) : norm === 'l2' ? total + x * x : Math.max(total, Math.abs(x));
    }
    let divisor = norm === 'l2' ? Math.sqrt(total) : total;
    if (divisor < TINY_NORM) divisor = 1;
    for (let j = 0; j < inWidth; j++) out[o + j] = input[at + j]! / divisor;
  }
}
