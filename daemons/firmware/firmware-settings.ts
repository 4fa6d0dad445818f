// The firmware daemon's options (the key root and the digsigserver-compatible HTTP API; the line
// listener's are lib's) and their translation, once, into one typed and validated settings object.
// HTTP is on by default on 127.0.0.1:9999 (digsigserver's port); --no-http turns it off.
import { realpathSync } from 'node:fs';
import os from 'node:os';
import type { Command, OptionValues } from '@commander-js/extra-typings';
import { listenSettings, required, type ListenOptionValues, type ListenSettings } from '../../lib/config/daemon-options.js';
import { parseCount, parseMilliseconds, parsePort } from '../../lib/config/numbers.js';
import { DaemonError } from '../../lib/errors.js';
import { checkTempDirectory } from '../../lib/keys/key-file.js';
import { DEFAULT_FIRMWARE_HTTP_LIMITS, FIRMWARE_HTTP_SPARE_CONNECTIONS, type FirmwareHttpLimits } from './firmware-limits.js';
import {
  addTransparencyLogDirOption,
  addTransparencyLogKeyOptions,
  transparencyLogSettings,
  type TransparencyLogSettings,
} from '../../lib/config/transparency-log-options.js';

const FIRMWARE_HTTP_PORT = 9999;

/** Everything the firmware daemon is configured with, validated once. */
export interface FirmwareSettings {
  listen: ListenSettings;
  /** digsigserver's key layout (DIGSIGSERVER_KEYFILE_URI's file:// directory). */
  keyRoot: string;
  /** null: --no-http. */
  http: FirmwareHttpSettings | null;
  /** Every signature is appended here before it leaves; null: no log. */
  transparencyLog: TransparencyLogSettings | null;
}

export interface FirmwareHttpSettings {
  host: string;
  port: number;
  /** Parent of the daemon's private upload directory (a real path). */
  tempDir: string;
  /** `artifact-uri=file://...` must resolve inside this directory (a real path); null refuses such requests. */
  menderArtifactRoot: string | null;
  limits: FirmwareHttpLimits;
}

export function addFirmwareOptions<Args extends unknown[], Opts extends OptionValues>(cmd: Command<Args, Opts>) {
  const d = DEFAULT_FIRMWARE_HTTP_LIMITS;
  return addTransparencyLogKeyOptions(addTransparencyLogDirOption(cmd))
    .option(
      '--key-root <dir>',
      'digsigserver key layout: <dir>/<machine or distro>/<kmodsign|swupdate|mender|opteesign|uefisign|imxsign|fitimagesign>/<key files>; private keys mode 0600, or <key file>.pkcs11 holding a pkcs11: URI (HSM)',
    )
    .option('--http-port <port>', 'port of the digsigserver-compatible HTTP API', parsePort('--http-port'), FIRMWARE_HTTP_PORT)
    .option('--no-http', 'do not serve the HTTP API')
    .option('--http-host <address>', 'address of the HTTP API; keep loopback unless a TLS proxy fronts it', '127.0.0.1')
    .option('--http-upload-bytes-max <bytes>', 'largest HTTP request body', parseCount('--http-upload-bytes-max', 1), d.uploadBytesMax)
    .option(
      '--http-inflated-bytes-max <bytes>',
      'largest uploaded tarball once inflated, and largest artifact behind artifact-uri',
      parseCount('--http-inflated-bytes-max', 1),
      d.inflatedBytesMax,
    )
    .option(
      '--http-file-bytes-max <bytes>',
      'largest single kernel module, TA, PE, i.MX or FIT image (signed in memory)',
      parseCount('--http-file-bytes-max', 1),
      d.signedFileBytesMax,
    )
    .option('--http-request-ms-max <ms>', 'time allowed to receive a whole HTTP request', parseMilliseconds('--http-request-ms-max', 1000), d.requestMsMax)
    .option(
      '--http-idle-ms-max <ms>',
      'time allowed for the request headers, and for each 64 KiB of an upload; then 408 and a close',
      parseMilliseconds('--http-idle-ms-max', 100),
      d.idleMsMax,
    )
    .option('--http-processing-ms-max <ms>', 'time allowed to sign and pack one upload', parseMilliseconds('--http-processing-ms-max', 100), d.processingMsMax)
    .option('--http-jobs-max <n>', 'HTTP signing requests processed at once; more wait their turn', parseCount('--http-jobs-max', 1), d.jobsMax)
    .option(
      '--http-queue-max <n>',
      'HTTP signing requests let in beyond --http-jobs-max (uploading or waiting); more get 503',
      parseCount('--http-queue-max', 0),
      d.queueMax,
    )
    .option(
      '--http-queue-bytes-max <bytes>',
      'upload bytes the requests let in may hold on disk together (at least --http-upload-bytes-max)',
      parseCount('--http-queue-bytes-max', 1),
      d.queueBytesMax,
    )
    .option(
      '--http-queue-ms-max <ms>',
      'longest a request waits for upload room and a signing slot; then 503',
      parseMilliseconds('--http-queue-ms-max', 0),
      d.queueMsMax,
    )
    .option('--http-temp-dir <dir>', 'parent of the private directory for uploads (default: the system temp dir)')
    .option('--mender-artifact-root <dir>', '/sign/mender artifact-uri=file:// paths must lie under this directory (off when not given)');
}

/** The option values of the firmware command: the shared listen options and addFirmwareOptions'. */
export type FirmwareOptionValues = ListenOptionValues & ReturnType<ReturnType<typeof addFirmwareOptions<[], Record<never, never>>>['opts']>;

export function firmwareSettings(opts: FirmwareOptionValues): FirmwareSettings {
  const listen = listenSettings(opts);
  return { listen, keyRoot: required(opts.keyRoot, '--key-root'), http: httpSettings(opts, listen), transparencyLog: transparencyLogSettings(opts) };
}

function httpSettings(opts: FirmwareOptionValues, listen: ListenSettings): FirmwareHttpSettings | null {
  if (opts.http === false) return null;
  if (opts.httpHost.length === 0) throw new DaemonError('CONFIG_INVALID', '--http-host: empty');
  const limits: FirmwareHttpLimits = {
    ...DEFAULT_FIRMWARE_HTTP_LIMITS,
    uploadBytesMax: opts.httpUploadBytesMax,
    inflatedBytesMax: opts.httpInflatedBytesMax,
    signedFileBytesMax: opts.httpFileBytesMax,
    requestMsMax: opts.httpRequestMsMax,
    idleMsMax: opts.httpIdleMsMax,
    processingMsMax: opts.httpProcessingMsMax,
    jobsMax: opts.httpJobsMax,
    queueMax: opts.httpQueueMax,
    queueBytesMax: opts.httpQueueBytesMax,
    queueMsMax: opts.httpQueueMsMax,
    drainMsMax: listen.limits.drainMsMax,
  };
  // Requests let in each hold a connection: the cap must not bite before the queue does.
  limits.connectionsMax = Math.max(limits.connectionsMax, limits.jobsMax + limits.queueMax + FIRMWARE_HTTP_SPARE_CONNECTIONS);
  // Each request reserves its upload's size before it is read: a budget below one upload would refuse it for good.
  if (limits.queueBytesMax < limits.uploadBytesMax) {
    throw new DaemonError(
      'CONFIG_INVALID',
      `--http-queue-bytes-max (${limits.queueBytesMax}) must be at least --http-upload-bytes-max (${limits.uploadBytesMax})`,
    );
  }
  const artifactRoot = opts.menderArtifactRoot !== undefined && opts.menderArtifactRoot.length > 0 ? opts.menderArtifactRoot : null;
  return {
    host: opts.httpHost,
    port: opts.httpPort,
    tempDir: tempDir(opts.httpTempDir || os.tmpdir()),
    menderArtifactRoot: artifactRoot === null ? null : realDir(artifactRoot, '--mender-artifact-root'),
    limits,
  };
}

/** --http-temp-dir, real, where only this daemon's user or root may rename (or sticky, as /tmp): see checkTempDirectory. */
function tempDir(dir: string): string {
  const real = realDir(dir, '--http-temp-dir');
  checkTempDirectory(dir, '--http-temp-dir');
  return real;
}

/** A directory option as a real path (symlinks resolved), so later containment checks compare like with like. */
function realDir(dir: string, option: string): string {
  try {
    return realpathSync(dir);
  } catch (err) {
    throw new DaemonError('CONFIG_INVALID', `${option} ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'unusable'}`, { cause: err });
  }
}
