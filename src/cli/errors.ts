import { OndeviceError, type ErrorDetails } from '../errors/index.js';

/**
 * Failures only the command line has (files and keys on disk, CSV input). Bundle, gate and input
 * problems keep the library's own classes and codes, so a script sees the same code as an app.
 */
export const CLI_ERROR_CODES = [
  // keygen would overwrite a key, or an output folder is missing.
  'FILE_EXISTS',
  'FILE_NOT_FOUND',
  // Not an Ed25519 private key (PKCS8 PEM), or not a 32-byte base64url public key.
  'INVALID_KEY',
  // The CSV cannot be read as CSV, lacks a column the model needs, or the bundle does not take table rows.
  'INVALID_CSV',
  'MISSING_COLUMN',
  'NOT_TABULAR',
  // diff: the two versions cannot be compared (different tasks).
  'NOT_COMPARABLE',
  // pack: the ONNX model file cannot be read, or its inputs are not what the feature spec feeds (name, dtype).
  'INVALID_MODEL',
  'MODEL_INPUT_MISMATCH',
  // pack: the model card's task names an output the ONNX model does not have.
  'MODEL_OUTPUT_MISSING',
] as const;
export type CliErrorCode = (typeof CLI_ERROR_CODES)[number];

export class CliError extends OndeviceError {
  declare readonly code: CliErrorCode;
  constructor(code: CliErrorCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}
