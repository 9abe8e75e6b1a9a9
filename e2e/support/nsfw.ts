import { readFileSync } from 'node:fs';
import { parseJsonBytes } from '../../src/bundle/index.js';
import { readSetFile } from '../../src/gate/index.js';
import type { PretrainedParityFile } from '../../test/parity.js';

// models/nsfw-mobilenet as the browser tests read it: its parity file and its sets' pictures.
export const NSFW_BUILD = new URL('../../models/nsfw-mobilenet/build/', import.meta.url);
export const nsfwParity = JSON.parse(readFileSync(new URL('parity.json', NSFW_BUILD), 'utf8')) as PretrainedParityFile;

/** A picture as it crosses into the page: 8-bit RGB pixels and their size. */
export interface Picture {
  readonly data: number[];
  readonly width: number;
  readonly height: number;
}

/** Every picture of the confidence set, then of the end-to-end set: the order of the parity file's outputs. */
export function nsfwPictures(): Picture[] {
  const of = (file: string): Picture[] =>
    (
      readSetFile(new Uint8Array(readFileSync(new URL(file, NSFW_BUILD))), file, parseJsonBytes) as {
        rows: { input: { data: Uint8Array; width: number; height: number } }[];
      }
    ).rows.map(({ input }) => ({ data: Array.from(input.data), width: input.width, height: input.height }));
  return [...of(nsfwParity.pretrained.set), ...of(nsfwParity.pretrained.e2e.set)];
}
