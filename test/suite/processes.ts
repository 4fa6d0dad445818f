// Which test files share one test process. tap starts a process per file in .taprc's `files`, and
// each costs about 0.6 s of CPU before its first test (Node, tap, and tap's process-info loader
// thread): a fifth of the suite's CPU when every file had its own. So `npm test` runs the files
// listed here, a process per entry (test/suite/<name>.test.ts), about 20 to 30 s of tests each so that
// tap's jobs stay evenly loaded. Any file still runs alone: `npx tap dist/test/<path>.test.js`.
//
// An entry is a folder (`integration/pkcs11/`), a file without `.test.js`
// (`integration/tezos/crash`) or a prefix of file names (`integration/tezos/hsm-*`). Every test file
// is in exactly one process (test/unit/suite/test-processes.test.ts), except the wall-clock bounds
// of integration/bounds/, which tap runs itself, alone (.taprc `serial`).
export const TEST_PROCESSES: Record<string, readonly string[]> = {
  'unit-crypto': ['unit/crypto/'],
  'unit-keys': ['unit/keys/', 'unit/pkcs11/', 'unit/tezos/'],
  'unit-services': [
    'unit/channels/',
    'unit/config/',
    'unit/docs/',
    'unit/firmware/',
    'unit/hmac/',
    'unit/operations/',
    'unit/protocol/',
    'unit/server/',
    'unit/store/',
    'unit/suite/',
    'unit/systemd/',
    'unit/transparency/',
  ],
  'signature-wire': [
    'integration/signature/wire',
    'integration/signature/abuse',
    'integration/signature/request-client',
    'integration/signature/admin-no-store',
  ],
  'signature-process': ['integration/signature/process', 'integration/signature/store-auth-tls'],
  'signature-validity': ['integration/signature/validity'],
  'signature-seed-migration': ['integration/signature/seed-migration'],
  'signature-shared-stores': ['integration/signature/validity-shared-stores', 'integration/signature/postgres-durability'],
  'signature-redis': ['integration/signature/redis-persistence', 'integration/signature/redis-topologies'],
  'tezos-api': [
    'integration/tezos/http-taquito',
    'integration/tezos/line-nc',
    'integration/tezos/policy-auth',
    'integration/tezos/process',
    'integration/tezos/watermark-cli',
  ],
  'tezos-hsm': ['integration/tezos/hsm-*'],
  'tezos-crash': ['integration/tezos/crash'],
  'tezos-shared-stores': ['integration/tezos/shared-store-faults', 'integration/tezos/race'],
  'tezos-watermark-stores': ['integration/tezos/watermark-store', 'integration/tezos/redis-floor', 'integration/tezos/redis-start', 'integration/tezos/outage'],
  'firmware-http-formats': [
    'integration/firmware/http-class-calls',
    'integration/firmware/http-fitimage',
    'integration/firmware/http-imx',
    'integration/firmware/http-mender',
    'integration/firmware/http-modules',
    'integration/firmware/http-optee',
    'integration/firmware/http-swupdate',
    'integration/firmware/http-uefi',
  ],
  'firmware-http-limits': [
    'integration/firmware/http-bad-input',
    'integration/firmware/http-connections',
    'integration/firmware/http-drain',
    'integration/firmware/http-multipart',
    'integration/firmware/http-queue',
    'integration/firmware/http-queue-bounds',
    'integration/firmware/http-upload-counts',
  ],
  'firmware-line': ['integration/firmware/line-*', 'integration/firmware/fit-image', 'integration/firmware/hab4-csf', 'integration/firmware/uefi-formats'],
  'firmware-hsm': ['integration/firmware/hsm-*'],
  'transparency-log': [
    'integration/transparency/concurrent-appenders',
    'integration/transparency/go-verifier',
    'integration/transparency/hsm-log-key',
    'integration/transparency/log-command',
    'integration/transparency/log-lifecycle',
    'integration/transparency/log-serve',
    'integration/transparency/sigkill',
  ],
  'transparency-daemons': ['integration/transparency/daemon-crash', 'integration/transparency/firmware-log', 'integration/transparency/tezos-log'],
  'transparency-sign-daemon': ['integration/transparency/sign-daemon-log'],
  hmac: [
    'integration/hmac/abuse',
    'integration/hmac/http',
    'integration/hmac/mode32-full',
    'integration/hmac/process',
    'integration/hmac/request-log',
    'integration/hmac/wire',
  ],
  'hmac-hsm': ['integration/hmac/hsm-*'],
  operations: ['integration/operations/'],
  pkcs11: ['integration/pkcs11/'],
  channels: ['integration/channels/'],
  'server-config': ['integration/server/', 'integration/config/'],
};

/** Whether a test file (`integration/tezos/crash.test.js`, relative to the test root) is one an entry names. */
export function entryNames(entry: string, file: string): boolean {
  if (entry.endsWith('/')) return file.startsWith(entry);
  if (entry.endsWith('*')) return file.startsWith(entry.slice(0, -1));
  return file === `${entry}.test.js`;
}
