/**
 * The telemetry records the outbox queues, and their encoding as an OpenTelemetry OTLP/HTTP JSON
 * metrics request (opentelemetry-proto's JSON mapping: lowerCamelCase field names, 64-bit integers
 * as decimal strings, enums as numbers).
 *
 * Why not the OpenTelemetry JS SDK's exporter: it keeps its queue in memory, so nothing survives a
 * reload or an offline period, and with the SDK it weighs far more than the worker's 40 KB budget;
 * encoding the three point kinds the library produces takes a page.
 */

export type AttributeValue = string | number | boolean;
export type Attributes = Readonly<Record<string, AttributeValue>>;
export type MetricPoint =
  | {
      readonly kind: 'sum';
      readonly name: string;
      readonly unit?: string;
      readonly description?: string;
      readonly value: number;
      readonly attributes?: Attributes;
      readonly startTimeMs: number;
    }
  | {
      readonly kind: 'gauge';
      readonly name: string;
      readonly unit?: string;
      readonly description?: string;
      readonly value: number;
      readonly attributes?: Attributes;
    }
  | {
      readonly kind: 'histogram';
      readonly name: string;
      readonly unit?: string;
      readonly description?: string;
      readonly bounds: readonly number[];
      readonly counts: readonly number[];
      readonly sum: number;
      readonly count: number;
      readonly min?: number;
      readonly max?: number;
      readonly attributes?: Attributes;
      readonly startTimeMs: number;
    };
/** One queued record: a batch of metric points observed at one time. */
export interface TelemetryRecord {
  readonly id: string;
  readonly timeMs: number;
  readonly points: readonly MetricPoint[];
}

/** The data point attribute naming the record a point came from, so a receiver counts each record once. */
export const RECORD_ID_ATTRIBUTE = 'ondevice.record_id';

/** Proto3 JSON writes non-finite doubles as these strings (plain JSON has no NaN). */
export type DoubleJson = number | 'NaN' | 'Infinity' | '-Infinity';
export type AnyValueJson =
  { readonly stringValue: string } | { readonly intValue: string } | { readonly doubleValue: DoubleJson } | { readonly boolValue: boolean };
export interface KeyValueJson {
  readonly key: string;
  readonly value: AnyValueJson;
}
export interface NumberDataPointJson {
  readonly attributes: readonly KeyValueJson[];
  readonly startTimeUnixNano?: string;
  readonly timeUnixNano: string;
  readonly asInt?: string;
  readonly asDouble?: DoubleJson;
}
export interface HistogramDataPointJson {
  readonly attributes: readonly KeyValueJson[];
  readonly startTimeUnixNano: string;
  readonly timeUnixNano: string;
  readonly count: string;
  readonly sum: DoubleJson;
  readonly bucketCounts: readonly string[];
  readonly explicitBounds: readonly number[];
  readonly min?: DoubleJson;
  readonly max?: DoubleJson;
}
/** `AGGREGATION_TEMPORALITY_DELTA`: every point counts what happened since its start time only. */
export type DeltaTemporality = 1;
interface MetricHead {
  readonly name: string;
  readonly unit?: string;
  readonly description?: string;
}
export type MetricJson = MetricHead &
  (
    | {
        readonly sum: {
          readonly dataPoints: readonly NumberDataPointJson[];
          readonly aggregationTemporality: DeltaTemporality;
          readonly isMonotonic: boolean;
        };
      }
    | { readonly gauge: { readonly dataPoints: readonly NumberDataPointJson[] } }
    | { readonly histogram: { readonly dataPoints: readonly HistogramDataPointJson[]; readonly aggregationTemporality: DeltaTemporality } }
  );
export interface ScopeMetricsJson {
  readonly scope: { readonly name: string; readonly version: string };
  readonly metrics: readonly MetricJson[];
}
export interface ResourceMetricsJson {
  readonly resource: { readonly attributes: readonly KeyValueJson[] };
  readonly scopeMetrics: readonly ScopeMetricsJson[];
}
export interface ExportMetricsServiceRequestJson {
  readonly resourceMetrics: readonly ResourceMetricsJson[];
}

/** Epoch milliseconds (possibly fractional) as decimal nanoseconds: past 2^53, so BigInt, not a double. */
export function unixNanos(ms: number): string {
  const whole = Math.floor(ms);
  return (BigInt(whole) * 1_000_000n + BigInt(Math.round((ms - whole) * 1e6))).toString();
}

function double(value: number): DoubleJson {
  if (Number.isFinite(value)) return value;
  return Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity';
}

function anyValue(value: AttributeValue): AnyValueJson {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  // JavaScript has one number type: integers go as int64 (what a label like a count reads as), the rest as doubles.
  return Number.isSafeInteger(value) ? { intValue: String(value) } : { doubleValue: double(value) };
}

function keyValues(attributes: Attributes | undefined, recordId?: string): KeyValueJson[] {
  const list = Object.entries(attributes ?? {}).map(([key, value]) => ({ key, value: anyValue(value) }));
  // The record id is the receiver's key for counting each record once: no caller attribute may replace it.
  return recordId === undefined
    ? list
    : [...list.filter(({ key }) => key !== RECORD_ID_ATTRIBUTE), { key: RECORD_ID_ATTRIBUTE, value: { stringValue: recordId } }];
}

/**
 * Why a point cannot be encoded faithfully, or undefined when it can. The outbox refuses such points
 * when they are added: a record the collector can never accept would block the queue behind it.
 */
export function pointProblem(point: MetricPoint): string | undefined {
  const kind: unknown = point.kind;
  if (kind !== 'sum' && kind !== 'gauge' && kind !== 'histogram') return `has an unknown kind ${JSON.stringify(kind)}`;
  if (typeof point.name !== 'string' || point.name === '') return 'has no name';
  for (const [key, value] of Object.entries(point.attributes ?? {})) {
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
      return `has attribute ${key} that is not a string, number or boolean`;
  }
  if (point.kind !== 'gauge' && !Number.isFinite(point.startTimeMs)) return 'has no finite startTimeMs';
  if (point.kind === 'sum' && !Number.isFinite(point.value)) return `has a sum that is not finite (${point.value})`;
  if (point.kind === 'gauge' && typeof point.value !== 'number') return 'has a value that is not a number';
  if (point.kind === 'histogram') {
    const { bounds, counts } = point;
    if (!bounds.every((b, i) => Number.isFinite(b) && (i === 0 || b > bounds[i - 1]!)))
      return 'has bounds that are not finite and increasing';
    if (counts.length !== bounds.length + 1)
      return `has ${counts.length} bucket counts for ${bounds.length} bounds (needs ${bounds.length + 1})`;
    if (!counts.every((c) => Number.isSafeInteger(c) && c >= 0)) return 'has bucket counts that are not non-negative integers';
    if (counts.reduce((a, b) => a + b, 0) !== point.count) return `has a count (${point.count}) that is not the sum of its bucket counts`;
    if (!Number.isFinite(point.sum)) return 'has a sum that is not finite';
  }
  return undefined;
}

type NumberPoint = Extract<MetricPoint, { kind: 'sum' | 'gauge' }>;
type HistogramPoint = Extract<MetricPoint, { kind: 'histogram' }>;
interface Group {
  readonly head: { name: string; unit?: string; description?: string };
  readonly kind: MetricPoint['kind'];
  readonly numbers: { readonly point: NumberPoint; readonly record: TelemetryRecord }[];
  readonly histograms: { readonly point: HistogramPoint; readonly record: TelemetryRecord }[];
}

function numberPoint({ point, record }: Group['numbers'][number], asInt: boolean): NumberDataPointJson {
  return {
    attributes: keyValues(point.attributes, record.id),
    ...(point.kind === 'sum' ? { startTimeUnixNano: unixNanos(point.startTimeMs) } : {}),
    timeUnixNano: unixNanos(record.timeMs),
    ...(asInt ? { asInt: String(point.value) } : { asDouble: double(point.value) }),
  };
}

function histogramPoint({ point, record }: Group['histograms'][number]): HistogramDataPointJson {
  return {
    attributes: keyValues(point.attributes, record.id),
    startTimeUnixNano: unixNanos(point.startTimeMs),
    timeUnixNano: unixNanos(record.timeMs),
    count: String(point.count),
    sum: double(point.sum),
    bucketCounts: point.counts.map(String),
    explicitBounds: [...point.bounds],
    ...(point.min === undefined ? {} : { min: double(point.min) }),
    ...(point.max === undefined ? {} : { max: double(point.max) }),
  };
}

function metric({ head, kind, numbers, histograms }: Group): MetricJson {
  if (kind === 'histogram') return { ...head, histogram: { dataPoints: histograms.map(histogramPoint), aggregationTemporality: 1 } };
  if (kind === 'gauge') return { ...head, gauge: { dataPoints: numbers.map((p) => numberPoint(p, false)) } };
  // A sum of counts goes as int64 (what backends expect of a counter); one fractional value makes the whole metric double.
  const asInt = numbers.every(({ point }) => Number.isSafeInteger(point.value));
  return {
    ...head,
    sum: {
      dataPoints: numbers.map((p) => numberPoint(p, asInt)),
      aggregationTemporality: 1,
      isMonotonic: numbers.every(({ point }) => point.value >= 0),
    },
  };
}

/**
 * One OTLP `ExportMetricsServiceRequest` for the records, in their order: points of the same name and
 * kind become one metric with several data points (unit and description from the first that has
 * them). Sums and histograms are deltas from their `startTimeMs` to the record's time; every data
 * point carries `ondevice.record_id`.
 */
export function toOtlpMetrics(
  records: readonly TelemetryRecord[],
  resource: Attributes,
  scope: { name: string; version: string },
): ExportMetricsServiceRequestJson {
  const groups = new Map<string, Group>();
  for (const record of records) {
    for (const point of record.points) {
      const key = `${point.kind}\u0000${point.name}`;
      let group = groups.get(key);
      if (group === undefined) {
        group = { head: { name: point.name }, kind: point.kind, numbers: [], histograms: [] };
        groups.set(key, group);
      }
      if (group.head.unit === undefined && point.unit !== undefined) group.head.unit = point.unit;
      if (group.head.description === undefined && point.description !== undefined) group.head.description = point.description;
      if (point.kind === 'histogram') group.histograms.push({ point, record });
      else group.numbers.push({ point, record });
    }
  }
  return {
    resourceMetrics: [
      {
        resource: { attributes: keyValues(resource) },
        scopeMetrics: [{ scope: { name: scope.name, version: scope.version }, metrics: [...groups.values()].map(metric) }],
      },
    ],
  };
}
