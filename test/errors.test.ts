import * as Comlink from 'comlink';
import { MessageChannel } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { GateError, InputError, MAX_FOREIGN_MESSAGE, OndeviceError, describeUnknown } from '../src/errors/index.js';
import { installErrorTransfer } from '../src/worker/protocol.js';
import { caught } from './helpers.js';

describe('errors across a comlink boundary', () => {
  installErrorTransfer();
  const { port1, port2 } = new MessageChannel();
  const api = {
    input(): never {
      throw new InputError('UNKNOWN_CATEGORY', 'row 3: field "island" has unknown category "Atlantis"', {
        row: 3,
        field: 'island',
        expected: ['Biscoe', 'Dream'],
      });
    },
    gate(): never {
      throw new GateError('GATE_METRIC_OUT_OF_RANGE', 'accuracy 0.5 is outside [0.95, 1]', { metric: 'accuracy', value: 0.5 });
    },
    plain(): never {
      throw new TypeError('boom');
    },
  };
  Comlink.expose(api, port1 as unknown as Comlink.Endpoint);
  const remote = Comlink.wrap<typeof api>(port2 as unknown as Comlink.Endpoint);

  it('arrive as the same class, with code and details, not as a string', async () => {
    const error = await caught(() => remote.input());
    expect(error).toBeInstanceOf(InputError);
    expect(error).toBeInstanceOf(OndeviceError);
    expect(error).toMatchObject({
      name: 'InputError',
      code: 'UNKNOWN_CATEGORY',
      details: { row: 3, field: 'island', expected: ['Biscoe', 'Dream'] },
    });

    const gate = await caught(() => remote.gate());
    expect(gate).toBeInstanceOf(GateError);
    expect((gate as GateError).details.value).toBe(0.5);
  });

  it('other errors still arrive as errors with their message', async () => {
    const error = await caught(() => remote.plain());
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'TypeError', message: 'boom' });
    port1.close();
  });
});

describe('another library’s error in one of ours', () => {
  it('is kept whole when short, and summarised with its length when long (a runtime once put a whole graph in it)', () => {
    expect(describeUnknown(new Error('session failed'))).toBe('session failed');
    expect(describeUnknown('plain text')).toBe('plain text');
    const graph = `cannot load the graph: ${'{"node":"Conv2D"},'.repeat(10_000)}`;
    const summary = describeUnknown(new Error(graph));
    expect(summary.length).toBeLessThan(MAX_FOREIGN_MESSAGE + 40);
    expect(summary.startsWith('cannot load the graph: {"node":"Conv2D"}')).toBe(true);
    expect(summary).toContain(`(${graph.length - MAX_FOREIGN_MESSAGE} more characters)`);
  });
});
