// firmware with --transparency-log: each signature its keys make is a sign entry with the key slot,
// the artifact's name and the SHA-256 of the bytes signed (or, for a digest flow with another hash,
// the digest as sent), and its bundle verifies offline with signerd and the Go verifier.
import t from 'tap';
import crypto from 'node:crypto';
import path from 'node:path';
import { startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { checkBundle, makeKey, publishedEntries } from './fixtures.js';
import { waitFor } from '../../helpers/polling.js';
import { copyKeyRoot, DISTRO, MACHINE, okValue, readVector } from '../firmware/line-fixtures.js';

t.test('firmware with the log: sw-description, a module digest and a FIT over HTTP', async (t) => {
  const dir = t.testdir();
  const logDir = path.join(dir, 'log');
  const { keyFile, vkey } = await makeKey(dir);
  const daemon = await startDaemon(
    ['firmware', '--key-root', copyKeyRoot(dir), '--port', '0', '--http-port', '0', '--transparency-log', logDir, '--transparency-log-key', keyFile],
    { listeners: 2 },
  );
  t.teardown(() => daemon.stop('SIGKILL'));

  const description = Buffer.from('software = { version = "1.0"; };\n');
  const signature = Buffer.from(okValue(await request(daemon.port, `SWUPDATE ${DISTRO} RSA ${description.toString('base64')}`)), 'base64').toString('hex');
  await checkBundle(t, dir, logDir, vkey, signature);
  const moduleDigest = crypto.createHash('sha512').update('a kernel module').digest('hex');
  okValue(await request(daemon.port, `MODULE ${MACHINE} sha512 ${moduleDigest}`));

  const form = new FormData();
  form.append('machine', MACHINE);
  form.append('artifact', new Blob([readVector('fit/simple.itb')], { type: 'application/octet-stream' }), 'fitImage');
  const fit = await fetch(`http://127.0.0.1:${daemon.ports[1]}/sign/fitimage`, { method: 'POST', body: form });
  t.equal(fit.status, 200, 'the FIT is signed');
  await fit.arrayBuffer();

  await waitFor(() => publishedEntries(logDir).filter((e) => e['kind'] === 'sign').length === 4, 5_000, 'a checkpoint over all four signatures');
  const logged = publishedEntries(logDir);
  t.ok(
    logged.filter((e) => e['kind'] === 'key-loaded').every((e) => e['source'] === 'firmware' && typeof e['publicKey'] === 'string'),
    'a key-loaded entry per key of the root, with its public key',
  );
  const [swupdate, module, fitKernel, fitConfig] = logged.filter((e) => e['kind'] === 'sign');
  t.match(swupdate, {
    source: 'firmware',
    signature,
    messageSha256: crypto.createHash('sha256').update(description).digest('hex'),
    firmware: { format: 'swupdate-rsa', artifact: 'sw-description' },
  });
  t.match(module, { source: 'firmware', firmware: { format: 'kmodsign', digest: `sha512:${moduleDigest}` } }, 'a digest flow logs the digest it was given');
  t.notOk('messageSha256' in module!, 'and no SHA-256 it could not know');
  t.match(fitKernel, { source: 'firmware', firmware: { format: 'fitimagesign', artifact: 'fitImage' } }, "the FIT's kernel signature");
  t.match(fitConfig, { source: 'firmware', firmware: { format: 'fitimagesign', artifact: 'fitImage' } }, 'and its configuration signature');
  t.not(fitKernel!['signature'], fitConfig!['signature']);
});
