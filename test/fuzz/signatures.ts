// Signatures: a bundle signed by the pinned key, then tampered with: a signature altered or
// replaced by noise, a signed file altered after signing, a signature missing, signed by another
// key, or a pinned key that is not a key. Only the untouched bundle may load.
import fc from 'fast-check';
import { decodeBase64Url, encodeBase64Url } from '../../src/bundle/index.js';
import { checkLoad, text, utf8, type FuzzFixture } from './fixture.js';
import type { Outcome } from './verdict.js';

const SIGNED_FILES = ['channel.json', '1.0.0/manifest.json'] as const;

export type SignatureCase =
  | { readonly kind: 'untouched' }
  | { readonly kind: 'stranger' }
  | { readonly kind: 'altered-signature'; readonly file: number; readonly at: number; readonly char: string }
  | { readonly kind: 'noise-signature'; readonly file: number; readonly noise: Uint8Array }
  | { readonly kind: 'missing-signature'; readonly file: number }
  | { readonly kind: 'altered-channel'; readonly sequence: number }
  | { readonly kind: 'malformed-key'; readonly key: string };

const file = fc.nat(SIGNED_FILES.length - 1);
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

export const signatureCase: fc.Arbitrary<SignatureCase> = fc.oneof(
  fc.constant({ kind: 'untouched' as const }),
  fc.constant({ kind: 'stranger' as const }),
  fc.record({
    kind: fc.constant('altered-signature' as const),
    file,
    at: fc.double({ min: 0, max: 0.999, noNaN: true }),
    char: fc.constantFrom(...BASE64URL),
  }),
  fc.record({ kind: fc.constant('noise-signature' as const), file, noise: fc.uint8Array({ maxLength: 300 }) }),
  fc.record({ kind: fc.constant('missing-signature' as const), file }),
  fc.record({ kind: fc.constant('altered-channel' as const), sequence: fc.integer({ min: 2, max: 1_000_000 }) }),
  fc.record({ kind: fc.constant('malformed-key' as const), key: fc.string({ maxLength: 60 }) }),
);

/** The signed bundle with the case's tampering; undefined when the tampering would change nothing. */
function tampered(fixture: FuzzFixture, test: SignatureCase): Map<string, Uint8Array> | undefined {
  const files = new Map(test.kind === 'stranger' ? fixture.strangerSigned : fixture.signed);
  switch (test.kind) {
    case 'altered-signature': {
      const sig = `${SIGNED_FILES[test.file]}.sig`;
      const json = JSON.parse(text(files.get(sig)!)) as { signatures: { signature: string }[] };
      const signature = json.signatures[0]!.signature;
      const at = Math.floor(test.at * signature.length);
      const altered = signature.slice(0, at) + test.char + signature.slice(at + 1);
      // The last character carries padding bits too: a change there alone may decode to the same bytes.
      if (encodeBase64Url(decodeBase64Url(altered)) === signature) return undefined;
      json.signatures[0]!.signature = altered;
      files.set(sig, utf8(JSON.stringify(json)));
      break;
    }
    case 'noise-signature':
      files.set(`${SIGNED_FILES[test.file]}.sig`, test.noise);
      break;
    case 'missing-signature':
      files.delete(`${SIGNED_FILES[test.file]}.sig`);
      break;
    case 'altered-channel': {
      const channel = JSON.parse(text(files.get('channel.json')!)) as { sequence: number };
      files.set('channel.json', utf8(JSON.stringify({ ...channel, sequence: test.sequence })));
      break;
    }
  }
  return files;
}

export async function checkSignature(fixture: FuzzFixture, test: SignatureCase): Promise<Outcome> {
  const files = tampered(fixture, test);
  if (files === undefined) return checkLoad(fixture.serve(fixture.signed), 'answer', { publicKeys: [fixture.publicKey] });
  const publicKeys = [test.kind === 'malformed-key' ? test.key : fixture.publicKey];
  // A random string can be a well-formed key by chance: then it is simply not the signer's.
  return checkLoad(fixture.serve(files), test.kind === 'untouched' ? 'answer' : 'refuse', { publicKeys });
}
