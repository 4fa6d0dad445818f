// `signerd migrate-seed`: carries the signatures the Python original already issued into signerd's
// validity store, so they keep verifying after the switch. The original kept them in its Redis db 0
// as <lowercase hex signature> → stripped message (MSET, no TTL), beside Celery's own keys.
import type { KeyObject } from 'node:crypto';
import { Option } from '@commander-js/extra-typings';
import { Redis } from 'ioredis';
import { DaemonError } from '../errors.js';
import { openValidityStore } from '../store/open-validity-store.js';
import { keyMismatch, verifyAsync } from '../crypto/signature-algorithms.js';
import { keyIdOf, loadPublicKeyFile } from '../keys/key-file.js';
import { ECDSA_PROFILE, RSA_PROFILE, type SignatureProfile } from '../signature/profiles.js';
import { connectRedis, storeUnavailable, waitForReady } from '../store/redis-connection.js';
import type { ValidityAdmin, ValidityStore } from '../store/validity-store.js';
import { runStoreAdmin, storeCommand } from './store-admin-command.js';

type Admin = ValidityStore & ValidityAdmin;

/** Keys asked of SCAN per call: a hint to the server, so also the rough size of one batch of work. */
const SEED_SCAN_COUNT = 500;
/** The original read one recv(2048) per request; a value far beyond that was not written by it. */
const SEED_MESSAGE_BYTES_MAX = 64 * 1024;
/** ECDSA P-384 raw r‖s, as the original's pycryptodome 'binary' encoding wrote it. */
const ECDSA_P384_SIGNATURE_BYTES = 96;
/** Exit status when some signature-shaped records did not verify with the given key. */
const EXIT_NOT_VERIFYING = 1;

const HEX = /^[0-9a-fA-F]+$/;

interface Migration {
  profile: SignatureProfile;
  publicKey: KeyObject;
  keyId: string;
  signatureBytes: number;
  dryRun: boolean;
}

interface Tally {
  scanned: number;
  imported: number;
  present: number;
  notVerifying: number;
  skipped: number;
}

/** One seed record as read: null when the key is not a string, vanished, or is too big to be one. */
type SeedEntry = { message: Buffer; expiresMs: number | null } | null;

export function seedMigrationCommand() {
  const cmd = storeCommand(
    'migrate-seed',
    'import the signatures the Python signer-daemon stored in its Redis (hex signature → message) as live records, after verifying each',
    "JSON file of store options, e.g. the daemon's own config file",
  )
    .requiredOption('--from-redis-url <url>', "the original's Redis: redis://host:port/db (it used redis://localhost:6379/0), or rediss://; no password here")
    .option('--from-redis-password-file <file>', 'file holding the source Redis password (mode 0600)')
    .option('--from-redis-tls-ca <file>', 'CA certificate for a rediss:// source')
    .addOption(new Option('--type <type>', 'which daemon pair issued the signatures').choices(['rsa', 'ecdsa'] as const).makeOptionMandatory())
    .requiredOption('--public-key <file>', "PEM public key of the original's signing key (RSA: openssl rsa -in rsa.pem -pubout; ECDSA: secp384r1.pub)")
    .option('--dry-run', 'scan, read and verify, but write nothing');
  cmd.action(() =>
    runStoreAdmin(
      cmd,
      {
        label: 'signerd migrate-seed',
        configIgnoresUnknown: true,
        open: (settings, log) => openValidityStore(settings, { durable: true, create: true, log, logConnectionErrors: false }),
      },
      async (store, opts) => {
        const migration = migrationOf(opts);
        const source = openSource(opts);
        try {
          return await migrate(store, source, migration, opts.storeTimeoutMs);
        } finally {
          source.disconnect();
        }
      },
    ),
  );
  return cmd;
}

type MigrationOptionValues = ReturnType<ReturnType<typeof seedMigrationCommand>['opts']>;

function migrationOf(opts: MigrationOptionValues): Migration {
  const profile = opts.type === 'rsa' ? RSA_PROFILE : ECDSA_PROFILE;
  const file = opts.publicKey;
  const publicKey = loadPublicKeyFile(file);
  const mismatch = keyMismatch(profile.algorithm, publicKey);
  if (mismatch) throw new DaemonError('KEY_LOAD_FAILED', `public key ${file}: ${mismatch}`);
  const signatureBytes = profile.family === 'rsa' ? Math.ceil((publicKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8) : ECDSA_P384_SIGNATURE_BYTES;
  return { profile, publicKey, keyId: keyIdOf(publicKey), signatureBytes, dryRun: opts.dryRun === true };
}

/**
 * The source is one plain Redis, reached through connectRedis so every safety option is explicit:
 * no offline queue, no per-command retry, command and connect deadlines. A failed command ends the
 * run (we never retry it), so reconnects cannot prolong it; disconnect() at the end stops them.
 */
function openSource(opts: MigrationOptionValues): Redis {
  const timeoutMs = opts.storeTimeoutMs;
  let client: ReturnType<typeof connectRedis>;
  try {
    client = connectRedis({
      url: opts.fromRedisUrl,
      passwordFile: opts.fromRedisPasswordFile,
      tlsCaFile: opts.fromRedisTlsCa,
      commandTimeoutMs: timeoutMs,
      connectTimeoutMs: Math.max(timeoutMs, 2_000),
    });
  } catch (err) {
    // The URL checks name the daemons' options; the source has its own.
    if (err instanceof DaemonError)
      throw new DaemonError(err.code, err.message.replaceAll('--redis-', '--from-redis-').replace('the redis URL', '--from-redis-url'));
    throw err;
  }
  if (!(client instanceof Redis)) throw new DaemonError('CONFIG_INVALID', '--from-redis-url must name one Redis server');
  return client;
}

async function migrate(store: Admin, source: Redis, migration: Migration, timeoutMs: number): Promise<number> {
  if (!(await waitForReady(source, Math.max(timeoutMs, 2_000) + 2_000))) {
    throw new DaemonError('STORE_UNAVAILABLE', 'the source redis (--from-redis-url) did not answer');
  }
  const tally: Tally = { scanned: 0, imported: 0, present: 0, notVerifying: 0, skipped: 0 };
  // SCAN, never KEYS: the source is a live Celery broker and KEYS would block it for the whole walk.
  // SCAN may return a key twice; the repeat then counts as already present (or twice in a dry run).
  let cursor = '0';
  do {
    const [next, keys] = await sourceCall('scan', () => source.scan(cursor, 'COUNT', SEED_SCAN_COUNT));
    tally.scanned += keys.length;
    const candidates = keys.filter((key) => key.length === 2 * migration.signatureBytes && HEX.test(key));
    tally.skipped += keys.length - candidates.length;
    await migrateBatch(store, source, candidates, migration, tally);
    cursor = next;
  } while (cursor !== '0');
  const { scanned, imported, present, notVerifying, skipped } = tally;
  const prefix = migration.dryRun ? 'dry run, nothing written: ' : '';
  process.stdout.write(`${prefix}scanned ${scanned}, imported ${imported}, already present ${present}, not verifying ${notVerifying}, skipped ${skipped}\n`);
  return notVerifying > 0 ? EXIT_NOT_VERIFYING : 0;
}

async function migrateBatch(store: Admin, source: Redis, keys: string[], migration: Migration, tally: Tally): Promise<void> {
  // A record already in the store (live, revoked or expired) is left alone: importing over a
  // revoked one would silently reinstate it.
  const statuses = await Promise.all(keys.map((key) => store.inspect(key.toLowerCase())));
  const fresh = keys.filter((_, i) => statuses[i]!.status === 'unknown');
  tally.present += keys.length - fresh.length;
  const entries = await readSeedEntries(source, fresh);
  await Promise.all(
    fresh.map(async (key, i) => {
      const entry = entries[i];
      if (!entry) {
        tally.skipped++;
        return;
      }
      const valid = await verifyAsync(migration.profile.algorithm, migration.publicKey, entry.message, Buffer.from(key, 'hex'));
      if (!valid) {
        tally.notVerifying++;
        return;
      }
      if (!migration.dryRun) {
        const signature = key.toLowerCase();
        // False: a record appeared since the inspect above (a sign daemon, another migration) and was kept.
        const written = await store.restore({
          signature,
          message: entry.message,
          keyId: migration.keyId,
          algorithm: migration.profile.algorithm,
          createdMs: Date.now(),
          expiresMs: entry.expiresMs,
        });
        if (!written) {
          tally.present++;
          return;
        }
      }
      tally.imported++;
    }),
  );
}

/** One round trip per batch; a key holding a hash, set or list answers WRONGTYPE and is skipped. */
async function readSeedEntries(source: Redis, keys: string[]): Promise<SeedEntry[]> {
  if (keys.length === 0) return [];
  const pipeline = source.pipeline();
  for (const key of keys)
    pipeline
      .strlen(key)
      .getrangeBuffer(key, 0, SEED_MESSAGE_BYTES_MAX - 1)
      .pttl(key);
  const results = await sourceCall('read', () => pipeline.exec());
  if (!results) throw storeUnavailable('source read', new Error('pipeline aborted'));
  return keys.map((_, i) => {
    const replies = results.slice(3 * i, 3 * i + 3) as Array<[Error | null, unknown]>;
    const failure = replies.find(([err]) => err)?.[0];
    if (failure && !/^WRONGTYPE/.test(failure.message)) throw storeUnavailable('source read', failure);
    const [[, length], [, message], [, pttl]] = replies as [[null, unknown], [null, unknown], [null, unknown]];
    if (failure || !Buffer.isBuffer(message) || typeof length !== 'number' || length > SEED_MESSAGE_BYTES_MAX || pttl === -2) return null;
    // A key the operator gave a TTL (the original's way to expire a signature) keeps its expiry.
    return { message, expiresMs: typeof pttl === 'number' && pttl > 0 ? Date.now() + pttl : null };
  });
}

async function sourceCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw storeUnavailable(`source ${what}`, err);
  }
}
