import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import {
  decodeBase64Url,
  encodeBase64Url,
  keyIdOf,
  parseSignatureFile,
  signatureUrlOf,
  type Signature,
  type SignatureFile,
} from '../bundle/index.js';
import { BundleError, describeUnknown } from '../errors/index.js';
import { CliError } from './errors.js';
import { exists, jsonText, parseJsonFile, readBytes, shown, writeFileAtomic } from './files.js';

/** An Ed25519 private key read from PKCS8 PEM, with the public half in the form browsers pin. */
export interface SigningKey {
  readonly privateKey: KeyObject;
  /** Raw 32-byte public key, base64url (a JWK's `x`). */
  readonly publicKey: string;
  readonly keyId: string;
}

export async function publicKeyOf(privateKey: KeyObject): Promise<{ publicKey: string; keyId: string }> {
  const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new CliError('INVALID_KEY', 'the key has no Ed25519 public part');
  return { publicKey: jwk.x, keyId: await keyIdOf(jwk.x) };
}

export async function loadSigningKey(path: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (error) {
    throw new CliError('FILE_NOT_FOUND', `cannot read the private key ${shown(path)}: ${describeUnknown(error)}`, { path: shown(path) });
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (error) {
    throw new CliError(
      'INVALID_KEY',
      `${shown(path)} is not a private key in PEM: ${describeUnknown(error)} (make one with ondevice keygen)`,
      { path: shown(path) },
    );
  }
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new CliError(
      'INVALID_KEY',
      `${shown(path)} is a ${privateKey.asymmetricKeyType ?? 'non-asymmetric'} key; bundles are signed with Ed25519 (ondevice keygen)`,
      { path: shown(path) },
    );
  }
  return { privateKey, ...(await publicKeyOf(privateKey)) };
}

/**
 * A public key given on the command line: a file holding it (as keygen writes `<prefix>.public`),
 * or the base64url text itself.
 */
export async function readPublicKey(argument: string): Promise<string> {
  const text = (await exists(argument)) ? (await readFile(argument, 'utf8')).trim() : argument.trim();
  let length = -1;
  try {
    if (/^[A-Za-z0-9_-]+$/.test(text)) length = decodeBase64Url(text).byteLength;
  } catch {
    // Not base64url: reported below.
  }
  if (length !== 32) {
    throw new CliError(
      'INVALID_KEY',
      `--public-key "${argument.length > 60 ? `${argument.slice(0, 60)}…` : argument}" is neither a file nor a raw Ed25519 public key in base64url (43 characters, as in <prefix>.public from ondevice keygen)`,
      { key: argument.slice(0, 60) },
    );
  }
  return text;
}

export async function signBytes(key: SigningKey, bytes: Uint8Array): Promise<Signature> {
  return { keyId: key.keyId, algorithm: 'Ed25519', signature: encodeBase64Url(sign(null, bytes, key.privateKey)) };
}

/** The signatures in `<path>.sig`, or undefined when there is none. */
export async function readSignatureFile(path: string): Promise<SignatureFile | undefined> {
  const sigPath = signatureUrlOf(path);
  if (!(await exists(sigPath))) return undefined;
  let json: unknown;
  try {
    json = parseJsonFile(await readBytes(sigPath, 'signatures'), sigPath);
  } catch (error) {
    // Damaged signatures are a signature failure, whatever broke them.
    throw new BundleError('SIGNATURE_INVALID', `${describeUnknown(error)}; sign again (ondevice sign)`, { url: shown(sigPath) });
  }
  return parseSignatureFile(json, shown(sigPath));
}

export interface SignResult {
  readonly sigPath: string;
  /** Key ids of other signatures kept beside the new one. */
  readonly kept: readonly string[];
  /** Whether this key had signed before (its old signature was replaced). */
  readonly replaced: boolean;
}

/**
 * Signs the file's current bytes into `<path>.sig`. `keepOthers`: signatures by other keys stay
 * (a second signer adds theirs); otherwise they go, as after the file was rewritten they no longer
 * match its bytes.
 */
export async function signFile(path: string, key: SigningKey, keepOthers: boolean): Promise<SignResult> {
  const bytes = await readBytes(path);
  const sigPath = signatureUrlOf(path);
  const previous = keepOthers ? await readSignatureFile(path) : undefined;
  const others = (previous?.signatures ?? []).filter((s) => s.keyId !== key.keyId);
  const file: SignatureFile = { format: 'ondevice/signatures', formatVersion: 1, signatures: [...others, await signBytes(key, bytes)] };
  await writeFileAtomic(sigPath, jsonText(file));
  return { sigPath, kept: others.map((s) => s.keyId), replaced: previous?.signatures.some((s) => s.keyId === key.keyId) ?? false };
}

/** Removes `<path>.sig`; resolves with whether there was one. */
export async function removeSignatureFile(path: string): Promise<boolean> {
  const sigPath = signatureUrlOf(path);
  if (!(await exists(sigPath))) return false;
  await rm(sigPath);
  return true;
}
