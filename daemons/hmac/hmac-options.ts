// The hmac daemon's own command-line options (secret mode and files, key versions, second and
// HTTP listeners) and their translation into typed settings; shared listen options come from lib.
import { Command, Option, type OptionValues } from '@commander-js/extra-typings';
import { DaemonError } from '../../lib/errors.js';
import { DEFAULT_LIMITS, INPUT_HELD_BYTES_MAX } from '../../lib/limits.js';

import { parseCount, parseMilliseconds, parsePort } from '../../lib/config/numbers.js';
import { isPkcs11Uri } from '../../lib/keys/pkcs11-uri.js';
import type { SecretSettings } from './secret-set.js';
import { parseMode } from './secret-set.js';
import { listenSettings, type ListenOptionValues, type ListenSettings } from '../../lib/config/daemon-options.js';
import { KEY_VERSION_MAX } from './derived-secrets.js';

/** The most --http-body-bytes-max may be: a body is held whole in memory, and the bodies read at once are bounded by max(16 MiB, 2 × this). */
const HMAC_HTTP_BODY_BYTES_CEILING = 64 * 1024 * 1024;

export const MAC_PORT = 9850;
export const VERIFY_PORT = 9851;
/** The seed's port; HTTP is off unless --http-port is given. */
const SEED_HTTP_PORT = 8080;

/** Everything the hmac daemon is configured with, validated once. */
export interface HmacSettings {
  listen: ListenSettings;
  secrets: SecretSettings;
  verifyPort: number;
  http: { host: string; port: number } | null;
  httpBodyBytesMax: number;
  chunkBytes: number;
}

const parseVersion = parseCount('--key-version', 1, KEY_VERSION_MAX);

/** `1,3` or `none` (a --config file's array arrives joined by commas). */
function parseVersionList(value: string): number[] {
  if (value === 'none') return [];
  // An empty list (a template left blank) would quietly mean none: every retired version's tags
  // would stop verifying. None is said with `none`.
  if (value.split(',').every((v) => v.trim().length === 0))
    throw new DaemonError('CONFIG_INVALID', '--accept-versions: empty; list versions (1,2) or say none');
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0)
    .map((v) => parseCount('--accept-versions', 1, KEY_VERSION_MAX)(v));
}

export function addHmacOptions<Args extends unknown[], Opts extends OptionValues>(cmd: Command<Args, Opts>) {
  return cmd
    .option('--verify-port <port>', 'TCP port of the verify line protocol', parsePort('--verify-port'), VERIFY_PORT)
    .option(
      '--http-port <port>',
      `serve cryptoserver's POST /hmac on this port (the seed used ${SEED_HTTP_PORT}); off when not given`,
      parsePort('--http-port'),
    )
    .option('--http-host <address>', 'address of the HTTP listener (default: --host)')
    .option(
      '--http-body-bytes-max <bytes>',
      'largest HTTP body; larger gets 413',
      parseCount('--http-body-bytes-max', 1, HMAC_HTTP_BODY_BYTES_CEILING),
      DEFAULT_LIMITS.httpBodyBytesMax,
    )
    .option('--mode <mode>', "secret mode: single, mode16, mode32 or derived (the seed's MODE0/MODE16/MODE32 are accepted in any case)", parseMode, 'single')
    .option('--secret-dir <dir>', 'directory of the secret files (secret, 0000, 0000…ffff, master-v<N>); each mode 0600', '/secrets')
    .option(
      '--secret <pkcs11-uri>',
      'single/derived: the secret is held in an HSM, named by a pkcs11: URI (derived: object=<prefix>, the token holds <prefix>-v<N>); --secret-dir is then unused',
    )
    .addOption(
      new Option(
        '--mode32-files <which>',
        'mode32: all = every one of the 65,536 files must exist; present = serve the files that exist, other indexes get BACKEND_UNAVAILABLE',
      )
        .choices(['all', 'present'] as const)
        .default('all' as const),
    )
    .option(
      '--key-version <n>',
      'derived: key version of new tags, master secret <secret-dir>/master-v<n> (default: the highest present; re-read on SIGHUP)',
      parseVersion,
    )
    .option(
      '--accept-versions <list>',
      'derived: retired versions whose tags still verify, e.g. 1,2 or none (default: every other master-v<n> present; re-read on SIGHUP)',
      parseVersionList,
    )
    .option(
      '--chunk-bytes <bytes>',
      'line protocol: data longer than this gets one tag per chunk of this size',
      parseCount('--chunk-bytes', 1, INPUT_HELD_BYTES_MAX),
      DEFAULT_LIMITS.chunkBytes,
    )
    .option(
      '--secret-read-ms-max <ms>',
      'mode32: deadline for reading one key from its file; --secret: deadline of one HSM call',
      parseMilliseconds('--secret-read-ms-max', 1),
      DEFAULT_LIMITS.backendCallMsMax,
    );
}

/** The option values of the hmac command: the shared listen options and addHmacOptions'. */
export type HmacOptionValues = ListenOptionValues & ReturnType<ReturnType<typeof addHmacOptions<[], Record<never, never>>>['opts']>;

export function hmacSettings(opts: HmacOptionValues): HmacSettings {
  const mode = opts.mode;
  const acceptVersions = opts.acceptVersions ?? null;
  if (mode !== 'derived' && (opts.keyVersion !== undefined || acceptVersions !== null)) {
    throw new DaemonError('CONFIG_INVALID', '--key-version and --accept-versions apply to --mode derived only (the seed modes have no key versions)');
  }
  const hsmUri = opts.secret ?? null;
  if (hsmUri !== null && !isPkcs11Uri(hsmUri))
    throw new DaemonError('CONFIG_INVALID', '--secret takes a pkcs11: URI (HSM-held secret); secret files go in --secret-dir');
  if (hsmUri !== null && (mode === 'mode16' || mode === 'mode32')) {
    throw new DaemonError(
      'CONFIG_INVALID',
      `--secret with --mode ${mode}: the seed's key tables stay in files (--secret-dir); an HSM holds the single or derived secret only`,
    );
  }
  const listen = listenSettings(opts);
  return {
    listen,
    secrets: {
      mode,
      dir: opts.secretDir,
      mode32Files: opts.mode32Files,
      keyVersion: opts.keyVersion ?? null,
      acceptVersions,
      readMsMax: opts.secretReadMsMax,
      hsmUri,
    },
    verifyPort: opts.verifyPort,
    http: opts.httpPort === undefined ? null : { host: opts.httpHost ?? listen.host, port: opts.httpPort },
    httpBodyBytesMax: opts.httpBodyBytesMax,
    chunkBytes: opts.chunkBytes,
  };
}
