// The validity model, run by a test file over the stores it names: sign, verify, revoke, reinstate,
// expire and rotate while the daemons keep running, and the admin commands on each store.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { runSignerd, startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { startRedis, type TestRedis } from '../../helpers/redis-server.js';
import { needTools } from '../../helpers/tools.js';
import { needPostgres, startPostgres } from '../../helpers/postgres-server.js';
import { startEtcd } from '../../helpers/etcd-cluster.js';
import { INVALID, VALID, makeKeys, signaturesOf } from '../../helpers/signature-fixtures.js';
import { retryUntil } from '../../helpers/polling.js';

const dir = t.testdir();
/** Asks until the answer is `wanted` or msMax passed; the last answer. */
function pollUntil(ask: () => Promise<string>, wanted: string, msMax: number): Promise<string> {
  return retryUntil(ask, (answer) => answer === wanted, msMax, 50);
}

interface StoreCase {
  name: string;
  tools: string[];
  needs?: () => { skip?: string };
  setup(): Promise<{ args: string[]; redis?: TestRedis; stop(): Promise<void> }>;
}

const stores: StoreCase[] = [
  { name: 'sqlite', tools: [], setup: async () => ({ args: ['--state-dir', path.join(dir, 'state')], stop: async () => {} }) },
  {
    name: 'redis',
    tools: ['redis-server', 'redis-cli'],
    setup: async () => {
      const redis = await startRedis();
      return { args: ['--store', 'redis', '--redis-url', redis.url, '--redis-prefix', 'test:'], redis, stop: () => redis.stop() };
    },
  },
  {
    name: 'postgres',
    tools: [],
    needs: needPostgres,
    setup: async () => {
      const server = await startPostgres();
      return { args: ['--store', 'postgres', '--postgres-url', server.url(), '--postgres-sslmode', 'disable'], stop: () => server.stop() };
    },
  },
  {
    name: 'etcd',
    tools: ['etcd'],
    setup: async () => {
      const etcd = await startEtcd(1);
      return { args: ['--store', 'etcd', '--etcd-endpoints', etcd.endpoints.join(',')], stop: () => etcd.stop() };
    },
  },
];

export function runValidityModel(names: Array<'sqlite' | 'redis' | 'postgres' | 'etcd'>): void {
  for (const store of stores.filter((s) => names.includes(s.name as 'sqlite'))) {
    t.test(`${store.name}: revoke, reinstate, expire, rotate`, { ...needTools('openssl', ...store.tools), ...store.needs?.() }, async (t) => {
      const env = await store.setup();
      const oldKey = makeKeys(dir, 'ecdsa', `old-${store.name}`);
      const newKey = makeKeys(dir, 'ecdsa', `new-${store.name}`);
      const base = ['--port', '0', ...env.args];
      // Started together: each spends most of its start loading modules, and the store is shared.
      const [oldSigner, ttlSigner, verifier, newOnly] = await Promise.all([
        startDaemon(['sign-ecdsa', '--key', oldKey.privateKeyFile, ...base]),
        // Records that expire 4 s after signing: long enough to revoke one first on a loaded machine.
        startDaemon(['sign-ecdsa', '--key', newKey.privateKeyFile, '--ttl', '4', ...base]),
        startDaemon(['verify-ecdsa', '--keyring', oldKey.publicKeyFile, '--keyring', newKey.publicKeyFile, ...base]),
        startDaemon(['verify-ecdsa', '--keyring', newKey.publicKeyFile, ...base]),
      ]);
      t.teardown(async () => {
        for (const d of [oldSigner, ttlSigner, verifier, newOnly]) await d.stop();
        await env.stop();
      });
      const admin = (...args: string[]): ReturnType<typeof runSignerd> => runSignerd([...args, ...env.args]);

      const sig = signaturesOf(await request(oldSigner.port, 'revocable'))[0]!;
      t.equal(await request(verifier.port, sig), VALID.ecdsa);

      const shown = await admin('show', sig, '--json');
      t.equal(shown.code, 0);
      t.match(JSON.parse(shown.stdout), {
        status: 'valid',
        record: { keyId: oldKey.keyId, algorithm: 'ecdsa-p384-sha384', message: Buffer.from('revocable').toString('base64') },
      });

      t.equal((await admin('revoke', sig)).code, 0);
      t.equal(await request(verifier.port, sig), INVALID.ecdsa, 'revoked: not valid, no restart');
      t.match(JSON.parse((await admin('show', sig, '--json')).stdout), { status: 'revoked' });
      t.equal((await admin('revoke', sig)).code, 1, 'revoking twice says there was nothing live');

      t.equal((await admin('reinstate', sig)).code, 0);
      t.equal(await request(verifier.port, sig), VALID.ecdsa, 'reinstated: valid again');

      t.equal(await request(newOnly.port, sig), INVALID.ecdsa, 'a verifier without the old public key does not accept it');
      // Revoked, then past its expiry: over on every store (Redis deletes it), never reinstated.
      const doomed = signaturesOf(await request(ttlSigner.port, 'revoked, then expired'))[0]!;
      t.equal((await admin('revoke', doomed)).code, 0, 'revoked while live');
      const fresh = signaturesOf(await request(ttlSigner.port, 'expiring'))[0]!;
      t.equal(await request(verifier.port, fresh), VALID.ecdsa, 'rotation: new key valid beside the old one');
      t.equal(await request(verifier.port, sig), VALID.ecdsa, 'rotation: old key still valid while in the keyring');
      t.equal(await pollUntil(() => request(verifier.port, fresh), INVALID.ecdsa, 8_000), INVALID.ecdsa, 'expired after --ttl');
      const over = env.redis ? 'unknown' : 'expired';
      const status = async (): Promise<string> => (JSON.parse((await admin('show', doomed, '--json')).stdout) as { status: string }).status;
      t.equal(await pollUntil(status, over, 8_000), over, 'a revoked record past its expiry shows as over');
      t.equal((await admin('reinstate', doomed)).code, 1, 'and reinstate says there was nothing to bring back');
      t.equal(await request(verifier.port, doomed), INVALID.ecdsa);

      const exported = await admin('export', sig);
      t.equal(exported.code, 0);
      /** A backup taken before a revocation, imported after it: the revocation stands; reinstate is the way back. */
      const importKeepsRevocation = async (): Promise<void> => {
        const imported = await runSignerd(['import', ...env.args], exported.stdout);
        t.equal(imported.code, 0);
        t.equal(imported.stdout, 'imported 0, already present 1, revoked (not restored) 0\n', 'import leaves the revoked record alone');
        t.equal(await request(verifier.port, sig), INVALID.ecdsa, 'a backup restored late does not undo a revocation');
        const revokedExport = await admin('export', sig);
        t.match(JSON.parse(revokedExport.stdout), { signature: sig, revoked: true }, 'the export of a revoked record says so');
        t.equal((await admin('reinstate', sig)).code, 0);
        t.equal(await request(verifier.port, sig), VALID.ecdsa, 'reinstate brings it back');
      };
      if (env.redis) {
        t.equal(await env.redis.cli('DEL', `test:sig:{${sig}}`), '1', 'records are plain keys under the prefix');
        t.equal(await request(verifier.port, sig), INVALID.ecdsa, 'redis-cli DEL revokes');
        t.equal((await admin('import'), await runSignerd(['import', ...env.args], exported.stdout)).code, 0);
        t.equal(await request(verifier.port, sig), VALID.ecdsa, 'restoring the record reinstates');
        t.equal((await admin('revoke', sig)).code, 0);
        await importKeepsRevocation();
        await env.redis.cli('PEXPIRE', `test:sig:{${sig}}`, '200');
        t.equal(await pollUntil(() => request(verifier.port, sig), INVALID.ecdsa, 2_000), INVALID.ecdsa, 'redis-cli EXPIRE expires');
      } else if (store.name === 'postgres') {
        const inits = await Promise.all([1, 2].map(() => runSignerd(['store', 'init', ...env.args, '--postgres-schema', 'fresh'])));
        t.same(
          inits.map((r) => r.code),
          [0, 0],
          'store init twice at once: both succeed',
        );
        t.match(inits[0]!.stdout, /store ready/);
        t.match((await admin('revoke', sig)).stdout, /^revoked \(durable: postgres commit flushed on the primary/, 'revoke says which commit made it durable');
        await importKeepsRevocation();
      } else if (store.name === 'etcd') {
        t.match((await admin('revoke', sig)).stdout, /^revoked \(durable: etcd quorum commit/, 'revoke says which commit made it durable');
        await importKeepsRevocation();
      } else {
        const daemonConfig = path.join(dir, 'sign-ecdsa.json');
        fs.writeFileSync(daemonConfig, JSON.stringify({ key: oldKey.privateKeyFile, stateDir: path.join(dir, 'state'), ttl: 60 }));
        t.match(
          JSON.parse((await runSignerd(['show', sig, '--json', '--config', daemonConfig])).stdout),
          { status: 'valid' },
          "admin commands read the daemon's own config file",
        );
        t.equal((await admin('revoke', sig)).code, 0);
        await importKeepsRevocation();
      }
    });
  }
}
