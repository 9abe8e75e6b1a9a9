/**
 * Typed errors shared by the main thread, the worker and the CLI.
 *
 * Every error has a stable `code` (for programs) and structured `details` (the field, the row, the
 * file...). They cross the worker boundary intact: see `worker/protocol.ts`, which rebuilds the
 * same class on the main thread instead of a flattened `Error`.
 */

export type ErrorClassName = 'OndeviceError' | 'InputError' | 'BundleError' | 'GateError' | 'ScoringError' | 'StateError';

export type ErrorDetails = Readonly<Record<string, string | number | boolean | null | readonly (string | number)[]>>;

export class OndeviceError extends Error {
  readonly code: string;
  readonly details: ErrorDetails;

  constructor(code: string, message: string, details: ErrorDetails = {}) {
    super(message);
    this.code = code;
    this.details = details;
  }

  /** Set per class, not read from `constructor.name`, which minifiers rename. */
  override name: ErrorClassName = 'OndeviceError';
}

/** Input rows that do not fit the feature spec. `details.field` and `details.row` say where. */
export const INPUT_ERROR_CODES = [
  'INVALID_BATCH',
  'INVALID_ROW',
  'MISSING_FIELD',
  'MISSING_VALUE',
  'UNEXPECTED_FIELD',
  'FORBIDDEN_KEY',
  'WRONG_TYPE',
  'NOT_FINITE',
  'VALUE_TOO_LONG',
  'UNKNOWN_CATEGORY',
  'OUT_OF_DOMAIN',
  'TENSOR_SHAPE',
  'TENSOR_DTYPE',
  // A tensor the bundle feeds itself (a constant), sent by the caller.
  'CONSTANT_INPUT',
  'UNKNOWN_PREDICTION',
  'BATCH_TOO_LARGE',
  // An option out of its range (e.g. `samples: -1`), or a telemetry endpoint that is not a URL.
  'INVALID_OPTION',
] as const;
export type InputErrorCode = (typeof INPUT_ERROR_CODES)[number];

/**
 * The message is derived from the data: `row <row>: <reason>` when the error is about a row (`row
 * <row> (line <line>): ` for a file's row), else the reason. `details.reason` keeps the reason, so
 * the same refusal can be told about another row (`atRow`) without reading the message back.
 */
export class InputError extends OndeviceError {
  override name: ErrorClassName = 'InputError';
  declare readonly code: InputErrorCode;
  constructor(code: InputErrorCode, reason: string, details: ErrorDetails) {
    super(code, `${rowPrefix(details)}${reason}`, { ...details, reason });
  }

  /** Why, without the row: what the message says after `row <row>: `. */
  get reason(): string {
    return String(this.details.reason);
  }

  /** The same refusal about row `row` (a part's row in the whole batch, or a call's own row 0). */
  atRow(row: number): InputError {
    return new InputError(this.code, this.reason, { ...this.details, row });
  }
}

/** A bundle file, manifest or channel that is malformed, unreachable or fails its hash. */
export const BUNDLE_ERROR_CODES = [
  'FETCH_FAILED',
  'INVALID_CHANNEL',
  'INVALID_MANIFEST',
  'INVALID_FEATURE_SPEC',
  'INVALID_SET',
  // `reference.json`, the training distribution drift is measured against.
  'INVALID_REFERENCE',
  'INTEGRITY_MISMATCH',
  'SIZE_MISMATCH',
  'NOT_INSTALLED',
  'STORAGE_FAILED',
  'SIGNATURE_INVALID',
  'ROLLBACK_REFUSED',
  'CHANNEL_REPLAYED',
  // A network wait ran out (`details.wait`: first-byte, idle or file; `details.ms`).
  'TIMEOUT',
  // A file past its cap (`details.limit`), refused before it is parsed.
  'TOO_LARGE',
  // A file that is not JSON, or nested deeper than the library reads.
  'INVALID_JSON',
] as const;
export type BundleErrorCode = (typeof BUNDLE_ERROR_CODES)[number];

export class BundleError extends OndeviceError {
  override name: ErrorClassName = 'BundleError';
  declare readonly code: BundleErrorCode;
  constructor(code: BundleErrorCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

function rowPrefix(details: ErrorDetails): string {
  if (typeof details.row !== 'number') return '';
  return typeof details.line === 'number' ? `row ${details.row} (line ${details.line}): ` : `row ${details.row}: `;
}

/** A version whose end-to-end set or confidence-set metric failed: it is never served. */
export const GATE_ERROR_CODES = ['GATE_E2E_MISMATCH', 'GATE_METRIC_OUT_OF_RANGE', 'GATE_CHECK_FAILED'] as const;
export type GateErrorCode = (typeof GATE_ERROR_CODES)[number];

export class GateError extends OndeviceError {
  override name: ErrorClassName = 'GateError';
  declare readonly code: GateErrorCode;
  constructor(code: GateErrorCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

/**
 * The model runtime could not load the model or score it; the worker it runs in did not start
 * (`WORKER_LOAD_FAILED`, with the script's `url`); a runtime the bundle needs is not installed in
 * the app (`RUNTIME_MISSING`, with the `packages` to install).
 */
export const SCORING_ERROR_CODES = ['RUNTIME_LOAD_FAILED', 'SCORING_FAILED', 'WORKER_LOAD_FAILED', 'RUNTIME_MISSING'] as const;
export type ScoringErrorCode = (typeof SCORING_ERROR_CODES)[number];

export class ScoringError extends OndeviceError {
  override name: ErrorClassName = 'ScoringError';
  declare readonly code: ScoringErrorCode;
  constructor(code: ScoringErrorCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

/**
 * Calls on a model that was disposed or never finished loading; a long task cancelled by its
 * `AbortSignal` (`CANCELLED`); what the model cannot do (`UNSUPPORTED`: e.g. explaining a tensor
 * model, or drift without reference statistics in the bundle).
 */
export const STATE_ERROR_CODES = ['DISPOSED', 'NOT_READY', 'CANCELLED', 'UNSUPPORTED', 'TOO_MANY_SESSIONS'] as const;
export type StateErrorCode = (typeof STATE_ERROR_CODES)[number];

export class StateError extends OndeviceError {
  override name: ErrorClassName = 'StateError';
  declare readonly code: StateErrorCode;
  constructor(code: StateErrorCode, message: string, details: ErrorDetails = {}) {
    super(code, message, details);
  }
}

/** Every class's codes: what the README's error table must list (a test reads both). */
export const ERROR_CODES: Readonly<Record<Exclude<ErrorClassName, 'OndeviceError'>, readonly string[]>> = {
  InputError: INPUT_ERROR_CODES,
  BundleError: BUNDLE_ERROR_CODES,
  GateError: GATE_ERROR_CODES,
  ScoringError: SCORING_ERROR_CODES,
  StateError: STATE_ERROR_CODES,
};

type ErrorConstructor = new (code: never, message: string, details: ErrorDetails) => OndeviceError;
const errorClasses: Record<ErrorClassName, ErrorConstructor> = {
  OndeviceError,
  InputError,
  BundleError,
  GateError,
  ScoringError,
  StateError,
};

/** The plain shape an error takes on the wire. */
export interface SerializedError {
  readonly className: ErrorClassName;
  readonly code: string;
  readonly message: string;
  readonly details: ErrorDetails;
  readonly stack?: string;
}

export function serializeError(error: OndeviceError): SerializedError {
  return {
    className: error.name,
    code: error.code,
    message: error.message,
    details: error.details,
    ...(error.stack ? { stack: error.stack } : {}),
  };
}

export function deserializeError(wire: SerializedError): OndeviceError {
  const ErrorClass = errorClasses[wire.className] ?? OndeviceError;
  // An InputError's message is made from its reason again, as the sender made it.
  const text = wire.className === 'InputError' && typeof wire.details.reason === 'string' ? wire.details.reason : wire.message;
  // The subclasses narrow `code`; on the wire it is whatever the sender had.
  const error = new ErrorClass(wire.code as never, text, wire.details);
  if (wire.stack !== undefined) error.stack = wire.stack;
  return error;
}

export function describeUnknown(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // A runtime's own message can embed a whole model graph (TensorFlow.js did: 100-200 KB): summarised.
  return text.length <= MAX_FOREIGN_MESSAGE
    ? text
    : `${text.slice(0, MAX_FOREIGN_MESSAGE)}… (${text.length - MAX_FOREIGN_MESSAGE} more characters)`;
}

/** The most of another library's error message kept in one of ondevice's (characters). */
export const MAX_FOREIGN_MESSAGE = 500;
