import { parseChannel, type Channel, type ChannelEntry, type Manifest } from '../bundle/index.js';
import { BundleError } from '../errors/index.js';
import type { RolloutPolicy, StrategyName } from '../rollout/index.js';
import {
  CHANNEL_FILE,
  channelEntryOf,
  channelPathOf,
  describeSignatureChange,
  expiryOf,
  readChannelFile,
  writeChannelFile,
  type ChannelWritten,
} from './channel-file.js';
import { parseCommandArgs, readDays, required, UsageError, type Command } from './command.js';
import { shown } from './files.js';
import { loadSigningKey } from './keys.js';
import { listVersions, locateBundle, readLocalVersion } from './local-bundle.js';

export interface RolloutOptions {
  /** The bundle folder (`<bundles>/<name>/`) or its channel.json. */
  readonly bundle: string;
  readonly policy: RolloutPolicy;
  /** Who approves, and why: recorded on every candidate the policy names. */
  readonly by: string;
  readonly reason: string;
  readonly expiresInDays?: number;
  /** Private key (PKCS8 PEM) to sign the new channel.json with. */
  readonly key?: string;
  /** ISO 8601; default now. */
  readonly at?: string;
}

export interface RolloutResult {
  readonly previous: Channel;
  readonly channel: Channel;
  readonly written: ChannelWritten;
  /** What happened to channel.json.sig, for the user; undefined when there is nothing to say. */
  readonly signatureNote: string | undefined;
}

const STRATEGIES: readonly StrategyName[] = ['single', 'canary', 'shadow', 'bandit'];

/** Which strategies each version/number flag belongs to: a flag given to another is refused, not ignored. */
const FLAG_STRATEGIES = {
  candidate: ['canary', 'shadow'],
  share: ['canary'],
  sample: ['shadow'],
  arms: ['bandit'],
} as const satisfies Record<string, readonly StrategyName[]>;

/** The flag a person typed to name the versions of a policy, so errors point at it. */
const versionFlagOf = (policy: RolloutPolicy): string => (policy.strategy === 'bandit' ? '--arms' : '--candidate');

/** The versions a policy serves from, in its order. */
function versionsOf(policy: RolloutPolicy): readonly string[] {
  switch (policy.strategy) {
    case 'single':
      return [];
    case 'canary':
    case 'shadow':
      return [policy.candidate];
    case 'bandit':
      return policy.arms;
  }
}

/**
 * Writes the next channel.json with the same live version and `policy` in force: the candidates it
 * names (each packed and verified, pinned by its manifest's SHA-256) and nothing else, so a
 * candidate the policy stops naming is pulled. `single` pulls them all.
 */
export async function rollout(options: RolloutOptions): Promise<RolloutResult> {
  if (options.by.trim() === '' || options.reason.trim() === '') throw new UsageError('--by and --reason must not be empty');
  const { policy } = options;
  // What can be told from the command line alone fails before any file is read.
  checkPolicyShape(policy);
  // Load the key first: a typo in its path should fail before anything is read or written.
  const key = options.key === undefined ? undefined : await loadSigningKey(options.key);
  const { bundleDir } = await locateBundle(options.bundle);
  const previous = await readChannelFile(bundleDir);
  if (previous === undefined) {
    const packed = await listVersions(bundleDir);
    throw new BundleError(
      'FETCH_FAILED',
      `${shown(channelPathOf(bundleDir))} is missing: no version is live, and a rollout shares calls between the live version and candidates (packed: ${packed.join(', ') || 'none'}); make one live first: ondevice promote ${shown(bundleDir)} <version> --by … --reason …`,
      { url: shown(channelPathOf(bundleDir)) },
    );
  }
  const live = previous.live.version;
  if (previous.rollback !== undefined && key === undefined) {
    // The rewritten channel keeps its rollback marker; unsigned, devices that saw the newer version refuse it.
    throw new UsageError(
      `--key is required: the live ${live} is a rollback from ${previous.rollback.from}, and browsers refuse an unsigned rollback, so the channel must be signed again`,
    );
  }
  if ((policy.strategy === 'canary' || policy.strategy === 'shadow') && policy.candidate === live) {
    throw new UsageError(
      `--candidate ${live} is the live version: a ${policy.strategy} tries another packed version beside it (to serve ${live} alone, use --strategy single)`,
    );
  }

  const at = options.at ?? new Date().toISOString();
  const candidates: ChannelEntry[] = [];
  // The live version needs no entry of its own (it may be a bandit arm): devices already serve it.
  for (const version of versionsOf(policy).filter((v) => v !== live)) {
    const { manifest, manifestSha256 } = await readNamedVersion(bundleDir, version, versionFlagOf(policy));
    if (manifest.name !== previous.name) {
      throw new BundleError(
        'INVALID_MANIFEST',
        `${versionFlagOf(policy)} ${version}: its manifest is of bundle ${manifest.name}; ${shown(channelPathOf(bundleDir))} is of ${previous.name}`,
        {
          version,
        },
      );
    }
    candidates.push(channelEntryOf(version, manifestSha256, { by: options.by, reason: options.reason }, at));
  }

  const next: Channel = {
    format: 'ondevice/channel',
    formatVersion: 2,
    name: previous.name,
    sequence: previous.sequence + 1,
    issuedAt: at,
    ...expiryOf(at, options.expiresInDays),
    live: previous.live,
    candidates,
    rollout: policy,
    // Live is unchanged: a rollback stays a rollback, or devices that saw the newer version would refuse the channel.
    ...(previous.rollback === undefined ? {} : { rollback: previous.rollback }),
  };
  // What we write must pass the parser the browser runs.
  const channel = parseChannel(next);
  const written = await writeChannelFile(bundleDir, channel, key);
  return { previous, channel, written, signatureNote: describeSignatureChange(written) };
}

/** Range and count checks on the policy, naming the flag that set each value. */
function checkPolicyShape(policy: RolloutPolicy): void {
  switch (policy.strategy) {
    case 'single':
      return;
    case 'canary':
      checkFraction(policy.share, 'share');
      return;
    case 'shadow':
      checkFraction(policy.sample, 'sample');
      return;
    case 'bandit': {
      const repeated = policy.arms.filter((arm, i) => policy.arms.indexOf(arm) !== i);
      if (repeated.length > 0)
        throw new UsageError(`--arms names ${[...new Set(repeated)].join(', ')} more than once; give each version once`);
      if (policy.arms.length < 2) {
        throw new UsageError(
          `--arms must name at least two different versions (the live one may be one of them), got ${policy.arms.length === 0 ? 'none' : policy.arms.join(', ')}`,
        );
      }
      return;
    }
  }
}

function checkFraction(value: number, option: 'share' | 'sample'): void {
  if (!Number.isFinite(value) || value < 0 || value > 1)
    throw new UsageError(`--${option} must be between 0 and 1 (0.05 is 5%), got ${value}`);
}

/** readLocalVersion (manifest parses, every file matches its hash), its failures prefixed with the flag that named the version. */
async function readNamedVersion(bundleDir: string, version: string, flag: string): Promise<{ manifest: Manifest; manifestSha256: string }> {
  try {
    return await readLocalVersion(bundleDir, version);
  } catch (error) {
    if (error instanceof UsageError) throw new UsageError(`${flag}: ${error.message}`);
    if (!(error instanceof BundleError)) throw error;
    const packed = await listVersions(bundleDir);
    const hint = packed.includes(version)
      ? ''
      : `; packed versions: ${packed.join(', ') || 'none'} (ondevice pack <folder> --out <bundles-dir> --no-promote adds one)`;
    throw new BundleError(error.code, `${flag} ${version}: ${error.message}${hint}`, { ...error.details, version });
  }
}

/** A fraction from the command line; range checks come later, with the policy's. */
function readFraction(value: string, option: 'share' | 'sample'): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number))
    throw new UsageError(`--${option} must be a number between 0 and 1 (0.05 is 5%), got "${value}"`);
  return number;
}

const percent = (fraction: number): string => `${Number((fraction * 100).toFixed(4))}%`;

/** One line saying who gets what under `policy`. */
export function describePolicy(policy: RolloutPolicy, live: string): string {
  switch (policy.strategy) {
    case 'single':
      return `single: ${live} (live) serves everyone`;
    case 'canary':
      return `canary: ${policy.candidate} for ${percent(policy.share)} of users, ${live} (live) for the rest`;
    case 'shadow':
      return `shadow: ${live} (live) answers everyone; ${policy.candidate} also scores ${percent(policy.sample)} of calls afterwards, for comparison`;
    case 'bandit':
      return `bandit: Thompson sampling between ${policy.arms.map((arm) => (arm === live ? `${arm} (live)` : arm)).join(', ')}, on the rewards the app reports`;
  }
}

/** What rollout prints. */
export function describeRollout(result: RolloutResult): string {
  const { channel, previous } = result;
  const offered = new Set(channel.candidates.map((c) => c.version));
  const pulled = previous.candidates.map((c) => c.version).filter((v) => !offered.has(v));
  return (
    `${channel.name}: ${describePolicy(channel.rollout, channel.live.version)}\n` +
    `  written to ${shown(result.written.path)} (sequence ${channel.sequence}; was ${previous.rollout.strategy}, sequence ${previous.sequence})\n` +
    channel.candidates
      .map(
        (c) =>
          `  candidate ${c.version}: ${c.manifest} sha256 ${c.sha256.slice(0, 16)}…, approved by ${c.approval.by} at ${c.approval.at}: "${c.approval.reason}"\n`,
      )
      .join('') +
    (pulled.length === 0 ? '' : `  pulled: ${pulled.join(', ')} (no longer offered; devices stop serving it)\n`) +
    (channel.expires === undefined ? '' : `  expires at ${channel.expires}\n`) +
    (result.signatureNote === undefined ? '' : `  ${result.signatureNote}\n`) +
    `  devices pick this up at their next channel check, or at once when the app calls update()\n`
  );
}

export const rolloutCommand: Command = {
  name: 'rollout',
  summary: 'share calls between the live version and candidates (canary, shadow, bandit), or pull them',
  usage:
    'ondevice rollout <bundle-dir> --strategy single|canary|shadow|bandit [--candidate <version>] [--share <0..1>] [--sample <0..1>] [--arms <v1,v2,...>] --by <name> --reason <text> [--expires-in <days>] [--key <private.pem>]',
  help: `Rewrites <bundle-dir>/${CHANNEL_FILE} so that devices share their calls between the live version and
packed candidate versions. The live version stays as it is; the channel gets the next sequence
number, the rollout policy, and an entry for each version the policy names besides the live one
(pinned by its manifest's SHA-256, with who approved it and why). A candidate the policy no longer
names is pulled. Every version named must be packed, its manifest valid and every file matching its
hash. Run ondevice verify and ondevice diff on a candidate first: devices also run its gate, and a
candidate that fails it leaves everyone on the live version.

Strategies:
  single   Everyone gets the live version; every candidate is pulled at once (the kill switch).
  canary   A stable --share of users gets --candidate (bucketed by user id, so nobody flips
           between versions); everyone else gets the live version.
  shadow   Everyone gets the live answer; --candidate also scores a --sample of the same calls
           afterwards and the two are compared (info().rollout.shadow). Users see no change.
  bandit   Thompson sampling between the --arms versions (the live one may be an arm), learning
           from the rewards the app reports with reportOutcome().

Devices pick the change up at their next channel check (at start, and every updateIntervalMs if
the app sets it) or at once when the app calls update(). To finish a rollout, make the winner live
for everyone with ondevice promote (promoting ends any rollout); to stop it, --strategy single.

A signature over the old ${CHANNEL_FILE} no longer matches: with --key the new channel is signed,
without it ${CHANNEL_FILE}.sig is removed (and you are told), never left stale. When the live version
is a rollback, --key is required: browsers refuse an unsigned rollback.

  <bundle-dir>            A bundle folder (<bundles>/<name>/) or its ${CHANNEL_FILE}.
  --strategy <name>       single, canary, shadow or bandit (above).
  --candidate <version>   canary, shadow: the packed version to try; not the live one.
  --share <0..1>          canary: the fraction of users who get the candidate, e.g. 0.05 for 5%.
  --sample <0..1>         shadow: the fraction of calls the candidate also scores (default 1: all).
  --arms <v1,v2,...>      bandit: two or more different packed versions, comma-separated.
  --by <name>             Who approves the rollout.
  --reason <text>         Why (kept in each candidate's approval).
  --expires-in <days>     Clients report the channel as stale after this many days (they keep serving).
  --key <file>            Sign the new ${CHANNEL_FILE} with this private key (PKCS8 PEM).`,
  async run(argv, io) {
    const args = parseCommandArgs(
      rolloutCommand,
      argv,
      {
        strategy: { type: 'string', short: 's' },
        candidate: { type: 'string' },
        share: { type: 'string' },
        sample: { type: 'string' },
        arms: { type: 'string' },
        by: { type: 'string' },
        reason: { type: 'string' },
        'expires-in': { type: 'string' },
        key: { type: 'string', short: 'k' },
      },
      io,
      { min: 1, max: 1, names: 'a bundle folder' },
    );
    if (args === undefined) return 0;
    const { values, positionals } = args;
    const policy = readPolicy(values);
    const expiresInDays = readDays(values['expires-in']);
    const result = await rollout({
      bundle: positionals[0]!,
      policy,
      by: required(values.by, 'by', 'who approves this rollout'),
      reason: required(values.reason, 'reason', 'why these versions are rolled out this way'),
      ...(expiresInDays === undefined ? {} : { expiresInDays }),
      ...(values.key === undefined ? {} : { key: values.key }),
    });
    io.stdout.write(describeRollout(result));
    return 0;
  },
};

type PolicyFlags = { readonly strategy?: string | undefined } & { readonly [F in keyof typeof FLAG_STRATEGIES]?: string | undefined };

/** The policy the flags describe; a flag that belongs to another strategy is refused rather than silently ignored. */
function readPolicy(values: PolicyFlags): RolloutPolicy {
  const name = required(values.strategy, 'strategy', STRATEGIES.join(', '));
  const strategy = STRATEGIES.find((s) => s === name);
  if (strategy === undefined) throw new UsageError(`--strategy must be one of ${STRATEGIES.join(', ')}, got "${name}"`);
  for (const flag of Object.keys(FLAG_STRATEGIES) as (keyof typeof FLAG_STRATEGIES)[]) {
    const owners: readonly StrategyName[] = FLAG_STRATEGIES[flag];
    if (values[flag] !== undefined && !owners.includes(strategy)) {
      throw new UsageError(
        `--${flag} applies to --strategy ${owners.join(' or ')}, not ${strategy}${strategy === 'single' ? ' (single pulls every candidate)' : ''}`,
      );
    }
  }
  switch (strategy) {
    case 'single':
      return { strategy };
    case 'canary':
      return {
        strategy,
        candidate: required(values.candidate, 'candidate', 'the packed version a share of users gets'),
        share: readFraction(required(values.share, 'share', 'the fraction of users who get the candidate, e.g. 0.05'), 'share'),
      };
    case 'shadow':
      return {
        strategy,
        candidate: required(values.candidate, 'candidate', 'the packed version that scores in the shadow'),
        sample: values.sample === undefined ? 1 : readFraction(values.sample, 'sample'),
      };
    case 'bandit': {
      const arms = required(values.arms, 'arms', 'two or more versions, comma-separated, e.g. 1.0.0,1.1.0')
        .split(',')
        .map((arm) => arm.trim())
        .filter((arm) => arm !== '');
      return { strategy, arms };
    }
  }
}
