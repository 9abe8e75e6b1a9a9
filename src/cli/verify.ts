import { signatureUrlOf } from '../bundle/index.js';
import { BundleError } from '../errors/index.js';
import type { GateReport } from '../gate/index.js';
import { load } from '../node/index.js';
import { parseCommandArgs, type Command } from './command.js';
import { exists, shown } from './files.js';
import { describeGate, num } from './format.js';
import { readPublicKey } from './keys.js';
import { readLocalBundle, type CheckEvent, type LocalBundle } from './local-bundle.js';

export interface VerifyOptions {
  /** A bundle folder (`<bundles>/<name>/`) or its channel.json. */
  readonly bundle: string;
  /** Trusted Ed25519 public keys, base64url: channel.json and the live manifest must be signed by one. */
  readonly publicKeys?: readonly string[];
  /** For the expiry check; default now. */
  readonly now?: number;
  readonly onCheck?: (event: CheckEvent) => void;
}

export interface VerifyResult {
  readonly bundle: LocalBundle;
  readonly gate: GateReport;
  readonly timings: { readonly runtimeMs: number; readonly gateMs: number };
  /** The runtime and backend the gate ran on: the browser's default for this bundle. */
  readonly runtime: {
    readonly name: string;
    readonly backend: string;
    /** Backends tried before it and why each failed (e.g. TensorFlow.js's wasm, then cpu): the report says so. */
    readonly fallbacks: readonly { readonly backend: string; readonly reason: string }[];
    /** Why the runtime ordered its backends so (e.g. a convolutional network: a GPU where the device has one). */
    readonly backendReason?: string;
  };
}

/** What `verify --json` prints: the same fields as the browser's `info()`, to compare them. */
export interface VerifyJson {
  readonly name: string;
  readonly version: string;
  readonly manifestSha256: string;
  readonly gate: GateReport;
}

/**
 * Everything the browser checks before it serves the live version, on the files on disk: the
 * channel, the manifest it pins, every file's size and SHA-256, signatures when keys are given,
 * then the gate, run by `prepareModel` as the worker runs it. Throws the first failure.
 */
export async function verifyBundle(options: VerifyOptions): Promise<VerifyResult> {
  const bundle = await readLocalBundle(options.bundle, {
    ...(options.publicKeys === undefined ? {} : { publicKeys: options.publicKeys }),
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.onCheck === undefined ? {} : { onCheck: options.onCheck }),
  });
  const { channel, channelPath } = bundle;
  if (channel?.rollback !== undefined && !(await exists(signatureUrlOf(channelPath)))) {
    throw new BundleError(
      'ROLLBACK_REFUSED',
      `${shown(channelPath)} rolls back from ${channel.rollback.from} to ${channel.live.version} but is not signed; browsers refuse an unsigned rollback (ondevice sign ${shown(bundle.bundleDir)} --key <private.pem>)`,
      { url: shown(channelPath), version: channel.live.version },
    );
  }
  // The gate runs as in a browser: the same loader verifies the channel, manifest and files again,
  // then the same runtime (and backend) the worker would use scores the sets (ondevice/node).
  const model = await load(channelPath, {
    ...(options.publicKeys === undefined || options.publicKeys.length === 0 ? {} : { publicKeys: options.publicKeys }),
    monitor: false,
    shards: 0,
    batching: false,
    checkForUpdates: false,
  });
  try {
    const info = await model.info();
    return {
      bundle,
      gate: info.gate,
      timings: { runtimeMs: info.timings.runtimeMs, gateMs: info.timings.gateMs },
      runtime: {
        name: info.runtime.name,
        backend: info.runtime.backend,
        fallbacks: info.runtime.fallbacks,
        ...(info.runtime.backendReason === undefined ? {} : { backendReason: info.runtime.backendReason }),
      },
    };
  } finally {
    await model.dispose();
  }
}

export const toVerifyJson = (result: VerifyResult): VerifyJson => ({
  name: result.bundle.manifest.name,
  version: result.bundle.manifest.version,
  manifestSha256: result.bundle.manifestSha256,
  gate: result.gate,
});

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'check a bundle as the browser would: hashes, signatures, expiry, then its gate',
  usage: 'ondevice verify <bundle-dir | channel.json> [--public-key <file or base64url>]... [--json]',
  help: `Resolves channel.json -> the live manifest -> its files, as the browser does, from disk: the
manifest must match the SHA-256 the channel pins, every file its size and SHA-256. With
--public-key, channel.json and the manifest must each carry a valid signature by one of the keys.
An expired channel is a warning. Then the gate runs with the browser's own code and runtimes
(onnxruntime-web WASM or TensorFlow.js): the end-to-end set must reproduce the research outputs
within the manifest's tolerance and the confidence-set metric must fall in its range.
Exits 1 naming the first thing that fails.

  <bundle-dir>            A bundle folder (<bundles>/<name>/) or its channel.json.
  --public-key <key>      A trusted public key: a file (<prefix>.public from ondevice keygen) or the
                          base64url text. Repeat for several keys; any one of them may have signed.
  --json                  Print only {name, version, manifestSha256, gate} as JSON on stdout (the
                          gate report equals the browser's info().gate); warnings go to stderr.`,
  async run(argv, io) {
    const args = parseCommandArgs(
      verifyCommand,
      argv,
      { 'public-key': { type: 'string', multiple: true }, json: { type: 'boolean' } },
      io,
      {
        min: 1,
        max: 1,
        names: 'one bundle folder or channel.json',
      },
    );
    if (args === undefined) return 0;
    const json = args.values.json === true;
    const publicKeys = await Promise.all((args.values['public-key'] ?? []).map(readPublicKey));
    const onCheck = (event: CheckEvent): void => {
      if (json) {
        if (event.level === 'warn') io.stderr.write(`ondevice verify: warning: ${event.subject}: ${event.message}\n`);
        return;
      }
      io.stdout.write(`  ${event.level.padEnd(5)} ${event.subject}: ${event.message}\n`);
    };
    if (!json) io.stdout.write(`verifying ${shown(args.positionals[0]!)}\n`);
    const result = await verifyBundle({ bundle: args.positionals[0]!, publicKeys, onCheck });
    if (json) {
      io.stdout.write(`${JSON.stringify(toVerifyJson(result))}\n`);
      return 0;
    }
    const [endToEnd, ...rest] = describeGate(result.gate);
    io.stdout.write(`  ok    gate: ${endToEnd}\n${rest.map((line) => `              ${line}\n`).join('')}`);
    const { manifest } = result.bundle;
    const signed = result.bundle.channelSignedBy === undefined ? 'signatures not checked' : `signed by ${result.bundle.channelSignedBy}`;
    io.stdout.write(
      `verified ${manifest.name} ${manifest.version} (${manifest.runtime} on ${result.runtime.backend}; ${signed}; runtime ${num(result.timings.runtimeMs)} ms, gate ${num(result.timings.gateMs)} ms)\n` +
        result.runtime.fallbacks
          .map((f) => `  note  scored on ${result.runtime.backend}: ${f.backend} (tried first, as in a browser) failed here: ${f.reason}\n`)
          .join('') +
        (result.runtime.backendReason === undefined ? '' : `  note  backends: ${result.runtime.backendReason}\n`),
    );
    return 0;
  },
};
