// The options that name a transparency log and its checkpoint key, shared by the daemons (once they
// log) and `signerd log`, and the one place that turns them into an open TransparencyLog.
import type { Command, OptionValues } from '@commander-js/extra-typings';
import type { Logger } from 'pino';
import { DaemonError } from '../errors.js';
import { LOG_LOCK_WAIT_MS_MAX } from '../limits.js';
import type { TransparencyLog } from '../transparency/transparency-log.js';
import type { CheckpointSigner } from '../transparency/checkpoint-signer.js';

export interface TransparencyLogSettings {
  dir: string;
  /** Checkpoint keys: note key files or pkcs11: URIs; two while rotating. */
  keys: string[];
  /** The log's name; needed for an HSM key when the log does not exist yet. */
  origin?: string;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export function addTransparencyLogDirOption<Args extends unknown[], Opts extends OptionValues>(cmd: Command<Args, Opts>) {
  return cmd.option('--transparency-log <dir>', 'transparency log directory (C2SP tlog-tiles layout, checkpoint, sequencer database)');
}

export function addTransparencyLogKeyOptions<Args extends unknown[], Opts extends OptionValues>(cmd: Command<Args, Opts>) {
  return cmd
    .option(
      '--transparency-log-key <file|uri>',
      'checkpoint key: a note key file (mode 0600, from `signerd log keygen`) or a pkcs11: URI of an Ed25519 key; repeat to sign with two keys during a rotation',
      collect,
    )
    .option('--transparency-log-origin <name>', "the log's name (its checkpoints' origin line); needed with an HSM key for a new log");
}

/** null when no log is configured; CONFIG_INVALID when a log is named without a key. */
/** The option values the two functions above declare. */
type TransparencyLogOptionValues = ReturnType<ReturnType<typeof addTransparencyLogDirOption<[], Record<never, never>>>['opts']> &
  ReturnType<ReturnType<typeof addTransparencyLogKeyOptions<[], Record<never, never>>>['opts']>;

export function transparencyLogSettings(opts: TransparencyLogOptionValues): TransparencyLogSettings | null {
  const dir = opts.transparencyLog;
  const keys = opts.transparencyLogKey ?? [];
  if (dir === undefined) {
    if (keys.length > 0) throw new DaemonError('CONFIG_INVALID', '--transparency-log-key needs --transparency-log <dir>');
    return null;
  }
  if (keys.length === 0) throw new DaemonError('CONFIG_INVALID', '--transparency-log needs --transparency-log-key (the checkpoint key)');
  const origin = opts.transparencyLogOrigin;
  return { dir, keys, ...(origin === undefined ? {} : { origin }) };
}

/** The name recorded in an existing log directory, or undefined. */
async function storedLogOrigin(dir: string): Promise<string | undefined> {
  const { storedOrigin } = await import('../transparency/sequencer-db.js');
  return storedOrigin(dir, LOG_LOCK_WAIT_MS_MAX);
}

export async function openLogKeys(settings: TransparencyLogSettings, deps: { callMsMax: number; log?: Logger }): Promise<CheckpointSigner[]> {
  // The log's code loads only when a log is configured: most daemons run without one.
  const { openLogKey } = await import('../transparency/open-log-key.js');
  const name = settings.origin ?? (await storedLogOrigin(settings.dir));
  const signers: CheckpointSigner[] = [];
  try {
    for (const ref of settings.keys) signers.push(await openLogKey(ref, { ...(name === undefined ? {} : { name }), callMsMax: deps.callMsMax, log: deps.log }));
  } catch (err) {
    await Promise.all(signers.map(async (s) => s.close?.()));
    throw err;
  }
  return signers;
}

/** Opens the keys, then the log; the returned close() also closes the keys. */
export async function openConfiguredTransparencyLog(settings: TransparencyLogSettings, deps: { callMsMax: number; log?: Logger }): Promise<TransparencyLog> {
  return openLogWithKeys(settings, await openLogKeys(settings, deps), deps);
}

/** Opens the log with keys opened before (openLogKeys); the log closes them, and so does a failed open. */
export async function openLogWithKeys(settings: TransparencyLogSettings, signers: CheckpointSigner[], deps: { log?: Logger }): Promise<TransparencyLog> {
  try {
    const { openTransparencyLog } = await import('../transparency/transparency-log.js');
    const log = await openTransparencyLog({ dir: settings.dir, signers, log: deps.log });
    return {
      origin: log.origin,
      verifierKeys: log.verifierKeys,
      append: (event) => log.append(event),
      publish: () => log.publish(),
      probe: () => log.probe(),
      stats: () => log.stats(),
      close: async () => {
        try {
          await log.close();
        } finally {
          await Promise.all(signers.map(async (s) => s.close?.()));
        }
      },
    };
  } catch (err) {
    await Promise.all(signers.map(async (s) => s.close?.()));
    throw err;
  }
}
