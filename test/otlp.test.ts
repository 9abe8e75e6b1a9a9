import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors/index.js';
import { pointProblem, toOtlpMetrics, unixNanos, type MetricPoint, type TelemetryRecord } from '../src/monitor/otlp.js';
import { Outbox } from '../src/monitor/outbox.js';
import { caught } from './helpers.js';

/** The protobufjs message class opentelemetry-js generated from opentelemetry-proto. */
interface ProtoMessage {
  fromObject(object: unknown): object;
  encode(message: object): { finish(): Uint8Array };
  decode(bytes: Uint8Array): object;
  toObject(message: object, options: Record<string, unknown>): unknown;
}
// @opentelemetry/otlp-transformer 0.217.0 is the last release shipping its generated protobuf classes
// (later ones encode by hand and cannot decode a request): pinned for that.
const proto = createRequire(import.meta.url)('@opentelemetry/otlp-transformer/build/src/generated/root.js') as {
  opentelemetry: { proto: { collector: { metrics: { v1: { ExportMetricsServiceRequest: ProtoMessage } } } } };
};
const ExportMetricsServiceRequest = proto.opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;

/**
 * JSON -> ExportMetricsServiceRequest -> protobuf bytes -> decoded -> proto3 JSON again. A field the
 * proto does not know (a misspelt name) is dropped, and a number where a decimal string belongs comes
 * back as a string: either way the result differs from what went in.
 */
function throughProto(json: unknown): unknown {
  const message = ExportMetricsServiceRequest.fromObject(json);
  const decoded = ExportMetricsServiceRequest.decode(ExportMetricsServiceRequest.encode(message).finish());
  return ExportMetricsServiceRequest.toObject(decoded, { longs: String, enums: Number, bytes: String, json: true });
}

/** protobufjs leaves out empty repeated fields; so does the comparison. */
function withoutEmptyArrays(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutEmptyArrays);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => !(Array.isArray(v) && v.length === 0))
      .map(([k, v]) => [k, withoutEmptyArrays(v)]),
  );
}

const T0 = 1_700_000_000_123;
const resource = {
  'service.name': 'shop',
  'service.instance.id': 'tab-1',
  'deployment.replicas': 3,
  'ondevice.offline': false,
  'ondevice.ratio': 0.25,
};
const scope = { name: 'ondevice', version: '0.1.0' };
const latency: MetricPoint = {
  kind: 'histogram',
  name: 'ondevice.scoring.duration',
  unit: 'ms',
  bounds: [1, 5, 10],
  counts: [4, 3, 2, 1],
  sum: 42.5,
  count: 10,
  min: 0.25,
  max: 31,
  attributes: { 'ondevice.version': '1.0.0' },
  startTimeMs: T0 - 60_000,
};
const records: TelemetryRecord[] = [
  {
    id: 'r1',
    timeMs: T0,
    points: [
      {
        kind: 'sum',
        name: 'ondevice.predictions',
        unit: '{row}',
        value: 120,
        attributes: { 'ondevice.version': '1.0.0' },
        startTimeMs: T0 - 60_000,
      },
      {
        kind: 'gauge',
        name: 'ondevice.drift.psi',
        value: 0.12,
        attributes: { 'ondevice.version': '1.0.0', 'ondevice.feature': 'bill_length_mm' },
      },
      {
        kind: 'gauge',
        name: 'ondevice.drift.psi',
        value: Number.NaN,
        attributes: { 'ondevice.version': '1.0.0', 'ondevice.feature': 'island' },
      },
      latency,
    ],
  },
  {
    id: 'r2',
    timeMs: T0 + 60_000.5,
    points: [
      {
        kind: 'sum',
        name: 'ondevice.predictions',
        unit: '{row}',
        description: 'Rows scored',
        value: 7,
        attributes: { 'ondevice.version': '1.0.0' },
        startTimeMs: T0,
      },
      // Same name, another kind: a metric of its own.
      { kind: 'gauge', name: 'ondevice.predictions', value: 3 },
    ],
  },
];

describe('toOtlpMetrics', () => {
  const request = toOtlpMetrics(records, resource, scope);
  const [resourceMetrics] = request.resourceMetrics;
  const metrics = resourceMetrics!.scopeMetrics[0]!.metrics;
  const byName = (name: string, kind: 'sum' | 'gauge' | 'histogram') => metrics.find((m) => m.name === name && kind in m)!;

  it('has one resource and one scope, with typed resource attributes', () => {
    expect(request.resourceMetrics).toHaveLength(1);
    expect(resourceMetrics!.scopeMetrics).toHaveLength(1);
    expect(resourceMetrics!.scopeMetrics[0]!.scope).toEqual(scope);
    expect(resourceMetrics!.resource.attributes).toEqual([
      { key: 'service.name', value: { stringValue: 'shop' } },
      { key: 'service.instance.id', value: { stringValue: 'tab-1' } },
      { key: 'deployment.replicas', value: { intValue: '3' } },
      { key: 'ondevice.offline', value: { boolValue: false } },
      { key: 'ondevice.ratio', value: { doubleValue: 0.25 } },
    ]);
  });

  it('groups points by name and kind, in order of first appearance', () => {
    expect(metrics.map((m) => [m.name, Object.keys(m).find((k) => k === 'sum' || k === 'gauge' || k === 'histogram')])).toEqual([
      ['ondevice.predictions', 'sum'],
      ['ondevice.drift.psi', 'gauge'],
      ['ondevice.scoring.duration', 'histogram'],
      ['ondevice.predictions', 'gauge'],
    ]);
    const psi = byName('ondevice.drift.psi', 'gauge');
    expect('gauge' in psi && psi.gauge.dataPoints).toHaveLength(2);
    const sum = byName('ondevice.predictions', 'sum');
    expect('sum' in sum && sum.sum.dataPoints).toHaveLength(2);
    // Unit from the first point, description from the first that has one.
    expect(sum).toMatchObject({ unit: '{row}', description: 'Rows scored' });
  });

  it('writes sums as monotonic deltas with int64 values and times as decimal strings', () => {
    const sum = byName('ondevice.predictions', 'sum');
    expect(sum).toMatchObject({ sum: { aggregationTemporality: 1, isMonotonic: true } });
    expect('sum' in sum && sum.sum.dataPoints[0]).toEqual({
      attributes: [
        { key: 'ondevice.version', value: { stringValue: '1.0.0' } },
        { key: 'ondevice.record_id', value: { stringValue: 'r1' } },
      ],
      startTimeUnixNano: '1699999940123000000',
      timeUnixNano: '1700000000123000000',
      asInt: '120',
    });
    // Fractional milliseconds survive as nanoseconds, exactly (a double would round past 2^53).
    expect('sum' in sum && sum.sum.dataPoints[1]!.timeUnixNano).toBe('1700000060123500000');
    expect(unixNanos(0)).toBe('0');
  });

  it('makes a sum double and non-monotonic when a value asks for it', () => {
    const [m] = toOtlpMetrics(
      [
        {
          id: 'x',
          timeMs: T0,
          points: [
            { kind: 'sum', name: 'balance', value: 2, startTimeMs: T0 - 1 },
            { kind: 'sum', name: 'balance', value: -0.5, startTimeMs: T0 - 1 },
          ],
        },
      ],
      {},
      scope,
    ).resourceMetrics[0]!.scopeMetrics[0]!.metrics;
    expect(m).toMatchObject({ sum: { isMonotonic: false, dataPoints: [{ asDouble: 2 }, { asDouble: -0.5 }] } });
  });

  it('writes gauges as doubles without a start time, NaN as proto3 JSON spells it', () => {
    const psi = byName('ondevice.drift.psi', 'gauge');
    const [a, b] = 'gauge' in psi ? psi.gauge.dataPoints : [];
    expect(a).toEqual({
      attributes: [
        { key: 'ondevice.version', value: { stringValue: '1.0.0' } },
        { key: 'ondevice.feature', value: { stringValue: 'bill_length_mm' } },
        { key: 'ondevice.record_id', value: { stringValue: 'r1' } },
      ],
      timeUnixNano: '1700000000123000000',
      asDouble: 0.12,
    });
    expect(b).toMatchObject({ asDouble: 'NaN' });
    expect(JSON.parse(JSON.stringify(b))).toMatchObject({ asDouble: 'NaN' });
  });

  it('writes histograms with one more bucket count than bounds, counts as strings', () => {
    const histogram = byName('ondevice.scoring.duration', 'histogram');
    expect(histogram).toMatchObject({ unit: 'ms', histogram: { aggregationTemporality: 1 } });
    const [point] = 'histogram' in histogram ? histogram.histogram.dataPoints : [];
    expect(point).toEqual({
      attributes: [
        { key: 'ondevice.version', value: { stringValue: '1.0.0' } },
        { key: 'ondevice.record_id', value: { stringValue: 'r1' } },
      ],
      startTimeUnixNano: '1699999940123000000',
      timeUnixNano: '1700000000123000000',
      count: '10',
      sum: 42.5,
      bucketCounts: ['4', '3', '2', '1'],
      explicitBounds: [1, 5, 10],
      min: 0.25,
      max: 31,
    });
    expect(point!.bucketCounts).toHaveLength(point!.explicitBounds.length + 1);
  });

  it('tags every data point with its record id, which a caller attribute cannot replace', () => {
    const ids = JSON.stringify(request).match(/"key":"ondevice\.record_id","value":\{"stringValue":"(r\d)"\}/g);
    expect(ids).toHaveLength(records.reduce((n, r) => n + r.points.length, 0));
    const [m] = toOtlpMetrics(
      [{ id: 'real', timeMs: T0, points: [{ kind: 'gauge', name: 'g', value: 1, attributes: { 'ondevice.record_id': 'fake' } }] }],
      {},
      scope,
    ).resourceMetrics[0]!.scopeMetrics[0]!.metrics;
    expect('gauge' in m! && m.gauge.dataPoints[0]!.attributes).toEqual([{ key: 'ondevice.record_id', value: { stringValue: 'real' } }]);
  });

  it('decodes into opentelemetry-proto ExportMetricsServiceRequest without loss', () => {
    const json: unknown = JSON.parse(JSON.stringify(request));
    expect(throughProto(json)).toEqual(withoutEmptyArrays(json));
    // The check has teeth: a misspelt field and an int64 written as a number both come back changed.
    const misspelt = JSON.parse(JSON.stringify(request).replace('"bucketCounts"', '"bucket_count"')) as unknown;
    expect(throughProto(misspelt)).not.toEqual(withoutEmptyArrays(misspelt));
    const numeric = JSON.parse(JSON.stringify(request).replace('"asInt":"120"', '"asInt":120')) as unknown;
    expect(throughProto(numeric)).not.toEqual(withoutEmptyArrays(numeric));
  });

  it('encodes nothing as an empty but valid request', () => {
    const empty = toOtlpMetrics([], { 'service.name': 'shop' }, scope);
    expect(empty.resourceMetrics[0]!.scopeMetrics[0]!.metrics).toEqual([]);
    expect(throughProto(JSON.parse(JSON.stringify(empty)))).toEqual(withoutEmptyArrays(JSON.parse(JSON.stringify(empty))));
  });
});

describe('pointProblem', () => {
  it('accepts the points the library produces', () => {
    for (const record of records) for (const point of record.points) expect(pointProblem(point)).toBeUndefined();
  });

  it('names what the collector could not take', () => {
    expect(pointProblem({ ...latency, counts: [1, 2, 3] } as MetricPoint)).toMatch(/3 bucket counts for 3 bounds/);
    expect(pointProblem({ ...latency, count: 11 } as MetricPoint)).toMatch(/not the sum of its bucket counts/);
    expect(pointProblem({ ...latency, bounds: [1, 1, 10] } as MetricPoint)).toMatch(/increasing/);
    expect(pointProblem({ ...latency, counts: [4, 3, 2.5, 0.5] } as MetricPoint)).toMatch(/integers/);
    expect(pointProblem({ kind: 'sum', name: 'n', value: Number.POSITIVE_INFINITY, startTimeMs: 0 })).toMatch(/not finite/);
    expect(pointProblem({ kind: 'gauge', name: '', value: 1 })).toMatch(/no name/);
    expect(pointProblem({ kind: 'counter', name: 'n', value: 1 } as unknown as MetricPoint)).toMatch(/unknown kind/);
    expect(pointProblem({ kind: 'gauge', name: 'g', value: 1, attributes: { at: null } } as unknown as MetricPoint)).toMatch(
      /attribute at/,
    );
  });
});

describe('Outbox options', () => {
  // Refused before any IndexedDB is opened, so Node can check them.
  it.each([
    ['endpoint', { endpoint: '/v1/metrics' }],
    ['endpoint', { endpoint: 'ftp://collector/v1/metrics' }],
    ['endpoint', { endpoint: 'https://user:secret@collector/v1/metrics' }],
    ['maxRecords', { endpoint: 'https://collector/v1/metrics', maxRecords: 0 }],
    ['intervalMs', { endpoint: 'https://collector/v1/metrics', intervalMs: Number.NaN }],
  ])('refuses a bad %s', async (field, options) => {
    const error = await caught(() => Outbox.open(options));
    expect(error).toBeInstanceOf(InputError);
    expect(error).toMatchObject({ code: 'INVALID_OPTION', details: { field: `telemetry.${field}` } });
  });
});
