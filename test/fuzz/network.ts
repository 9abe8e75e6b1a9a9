// Network faults: one file of the bundle (the channel, the manifest, or a file the manifest lists)
// served badly: stalled, endless, cut, with a Content-Length that lies, an error status, or served
// well (plainly, gzipped, or complete but never ended). A complete file must load; a broken one must
// fail with a typed error within the limits.
import fc from 'fast-check';
import type { Fault } from '../fault-server.js';
import { checkLoad, type Expected, type FuzzFixture } from './fixture.js';
import type { Outcome } from './verdict.js';

export interface NetworkCase {
  /** Index into the bundle's files, sorted by path. */
  readonly file: number;
  readonly fault: Fault['kind'];
  /** Where a cut or a stall happens, as a share of the body. */
  readonly at: number;
  readonly extra: number;
  readonly status: number;
}

export const networkCase: fc.Arbitrary<NetworkCase> = fc.record({
  file: fc.nat(20),
  fault: fc.constantFrom<Fault['kind']>(
    'stall-headers',
    'stall-body',
    'endless',
    'reset',
    'short-body',
    'open-after-body',
    'status',
    'ok',
    'gzip',
  ),
  at: fc.double({ min: 0, max: 0.999, noNaN: true }),
  extra: fc.integer({ min: 1, max: 100_000 }),
  status: fc.constantFrom(403, 404, 410, 500, 503),
});

function faultOf(test: NetworkCase, body: Uint8Array): Fault {
  const cut = Math.floor(test.at * body.byteLength);
  switch (test.fault) {
    case 'stall-headers':
      return { kind: 'stall-headers' };
    case 'stall-body':
      return { kind: 'stall-body', body, bytes: cut };
    case 'endless':
      return { kind: 'endless', chunk: body.subarray(0, Math.max(1, cut)) };
    case 'reset':
      return { kind: 'reset', body, bytes: cut };
    case 'short-body':
      return { kind: 'short-body', body, announced: body.byteLength + test.extra };
    case 'open-after-body':
      return { kind: 'open-after-body', body };
    case 'status':
      return { kind: 'status', status: test.status };
    case 'ok':
      return { kind: 'ok', body };
    case 'gzip':
      return { kind: 'gzip', body };
  }
}

/**
 * What must happen: the whole body delivered is an answer; a body announced longer than it is
 * completes where the manifest gives the size (a listed file) and times out where it does not (the
 * channel, the manifest); anything cut, stalled, endless or refused is a typed error.
 */
function expectedOf(test: NetworkCase, path: string): Expected {
  const listed = path !== 'channel.json' && !path.endsWith('manifest.json');
  if (test.fault === 'ok' || test.fault === 'gzip' || test.fault === 'open-after-body') return 'answer';
  if (test.fault === 'short-body') return listed ? 'answer' : 'refuse';
  return 'refuse';
}

export async function checkNetwork(fixture: FuzzFixture, test: NetworkCase): Promise<Outcome> {
  const paths = [...fixture.bundle.keys()].sort();
  const path = paths[test.file % paths.length]!;
  const url = fixture.serve(fixture.bundle, { path, fault: faultOf(test, fixture.bundle.get(path)!) });
  return checkLoad(url, expectedOf(test, path));
}
