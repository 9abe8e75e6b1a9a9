import { BundleError } from '../errors/index.js';
import { readArray, readLiteral, readRecord, readString, type Fail } from '../util/json.js';
import { sha256Hex } from './hash.js';

/**
 * Detached Ed25519 signatures over a file's exact bytes, in `<file>.sig`:
 * `{ "format": "ondevice/signatures", "formatVersion": 1, "signatures": [{ "keyId", "algorithm": "Ed25519", "signature" }] }`.
 * Keys are raw 32-byte Ed25519 public keys in base64url (a JWK's `x`); a key's id is the first 16 hex
 * digits of its SHA-256. WebCrypto verifies them in the browser, the worker and Node alike.
 */
export interface SignatureFile {
  readonly format: 'ondevice/signatures';
  readonly formatVersion: 1;
  readonly signatures: readonly Signature[];
}

export interface Signature {
  readonly keyId: string;
  readonly algorithm: 'Ed25519';
  /** base64url */
  readonly signature: string;
}

export const signatureUrlOf = (url: string): string => `${url}.sig`;

export async function keyIdOf(publicKey: string): Promise<string> {
  return (await sha256Hex(decodeBase64Url(publicKey))).slice(0, 16);
}

export function parseSignatureFile(json: unknown, url: string): SignatureFile {
  const fail: Fail = (path, why) => {
    throw new BundleError('SIGNATURE_INVALID', `${url}: ${path} ${why}`, { url, path });
  };
  const root = readRecord(json, '(root)', fail);
  readLiteral(root.format, ['ondevice/signatures'], 'format', fail);
  readLiteral(root.formatVersion, [1], 'formatVersion', fail);
  const signatures = readArray(root.signatures, 'signatures', fail).map((value, i): Signature => {
    const entry = readRecord(value, `signatures[${i}]`, fail);
    return {
      keyId: readString(entry.keyId, `signatures[${i}].keyId`, fail),
      algorithm: readLiteral(entry.algorithm, ['Ed25519'] as const, `signatures[${i}].algorithm`, fail),
      signature: readString(entry.signature, `signatures[${i}].signature`, fail),
    };
  });
  return { format: 'ondevice/signatures', formatVersion: 1, signatures };
}

/**
 * Resolves with the id of a trusted key whose signature over `bytes` verifies; throws
 * `SIGNATURE_INVALID` otherwise (no signature by a trusted key, or one that does not verify).
 */
export async function verifySigned(
  bytes: Uint8Array,
  signatures: SignatureFile,
  trustedKeys: readonly string[],
  url: string,
): Promise<string> {
  const trusted = new Map(await Promise.all(trustedKeys.map(async (key): Promise<[string, string]> => [await keyIdOf(key), key])));
  let tried = 0;
  for (const entry of signatures.signatures) {
    const key = trusted.get(entry.keyId);
    if (key === undefined) continue;
    tried++;
    if (await verifiesWith(key, entry.signature, bytes)) return entry.keyId;
  }
  throw new BundleError(
    'SIGNATURE_INVALID',
    tried === 0
      ? `${url} is not signed by any pinned key (pinned: ${[...trusted.keys()].join(', ')})`
      : `${url}: the signature by a pinned key does not verify; the file was altered or signed by someone else`,
    { url, pinned: [...trusted.keys()] },
  );
}

async function verifiesWith(key: string, signature: string, bytes: Uint8Array): Promise<boolean> {
  try {
    const publicKey = await crypto.subtle.importKey('raw', decodeBase64Url(key) as Uint8Array<ArrayBuffer>, { name: 'Ed25519' }, false, [
      'verify',
    ]);
    return await crypto.subtle.verify(
      { name: 'Ed25519' },
      publicKey,
      decodeBase64Url(signature) as Uint8Array<ArrayBuffer>,
      bytes as Uint8Array<ArrayBuffer>,
    );
  } catch {
    // Malformed base64 or a key of the wrong length: it does not verify.
    return false;
  }
}

export function decodeBase64Url(text: string): Uint8Array {
  const base64 = text
    .replace(/-/g, '+')
    .replace(/_/g, '/')
    .padEnd(Math.ceil(text.length / 4) * 4, '=');
  const binary = atob(base64);
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export function encodeBase64Url(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
