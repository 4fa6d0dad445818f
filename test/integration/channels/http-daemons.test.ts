// Client channels on the daemons with HTTP front ends (hmac, tezos, firmware): curl with a client
// certificate on each API, Taquito's RemoteSigner over HTTPS, openssl on their line listeners, and
// the refusals as HTTP statuses (401, 403, 429 with Retry-After).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { RemoteSigner } from '@taquito/remote-signer';
import { verifySignature } from '@taquito/utils';
import t from 'tap';
import { startDaemon } from '../../helpers/daemon.js';
import { until } from '../../helpers/polling.js';
import { needTools } from '../../helpers/tools.js';
import { singleDir } from '../../unit/hmac/secret-fixtures.js';
import { copyKeyRoot } from '../firmware/line-fixtures.js';
import { seedKeys, TZ1, writeKeys } from '../tezos/fixtures.js';
import { block as blockPayload } from '../tezos/payloads.js';
import { channelArgs, enroll, openssl, writeRegistry, type ChannelFiles } from './channel-fixtures.js';

interface Curled {
  status: number;
  headers: string;
  body: Buffer;
}

/** curl as docs/channels.md shows it: the server checked against its certificate, a client certificate when given. */
function curl(files: ChannelFiles, url: string, who: { cert: string; key: string } | null, extra: string[] = []): Promise<Curled> {
  const headerFile = path.join(files.dir, `headers-${process.hrtime.bigint()}.txt`);
  const args = ['-sS', '--max-time', '10', '--cacert', files.serverCert, '-D', headerFile, '-o', '-', ...extra, url];
  if (who) args.unshift('--cert', who.cert, '--key', who.key);
  return new Promise((resolve, reject) =>
    execFile('curl', args, { encoding: 'buffer' }, (err, stdout) => {
      if (err && !fs.existsSync(headerFile)) return reject(err);
      const headers = fs.readFileSync(headerFile, 'utf8');
      resolve({ status: Number(/^HTTP\/[\d.]+ (\d+)/m.exec(headers)?.[1] ?? 0), headers, body: stdout });
    }),
  );
}

t.test('HTTP front ends over TLS client channels', needTools('openssl', 'curl'), async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-https-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = await enroll(dir, ['alice', 'bob', 'rita', 'rhea'], []);
  const registry = path.join(dir, 'clients.txt');
  writeRegistry(registry, [
    files.certs['alice']!.line,
    `${files.certs['bob']!.line} daemons=sign-ecdsa`,
    `${files.certs['rita']!.line} rate=1/s`,
    `${files.certs['rhea']!.line} rate=3/s`,
  ]);
  const tlsArgs = channelArgs(files, registry);
  const alice = files.certs['alice']!;

  await t.test('hmac: POST /hmac with curl and its line listener with openssl', async (t) => {
    const hmac = await startDaemon(
      ['hmac', '--secret-dir', singleDir(path.join(dir, 'hmac')), '--port', '0', '--verify-port', '0', '--http-port', '0', ...tlsArgs],
      {
        listeners: 3,
      },
    );
    t.teardown(() => hmac.stop());
    const url = `https://127.0.0.1:${hmac.ports[2]}/hmac`;
    const posted = await curl(files, url, alice, ['--data-binary', 'hello world']);
    t.equal(posted.status, 200, 'curl with a client certificate');
    t.equal(posted.body.length, 32, 'the 32 raw tag bytes');
    t.equal((await curl(files, url, null, ['--data-binary', 'x'])).status, 401, 'no certificate: 401');
    t.equal((await curl(files, url, alice, ['--tls-max', '1.2', '--data-binary', 'x']).catch(() => ({ status: 0 }))).status, 0, 'TLS 1.2: no handshake');
    t.notOk(
      hmac.logs.some((l) => l['msg'] === 'request' && String(l['reason']).startsWith('ERR_SSL')),
      'a failed handshake is not logged as a request (it counts as tls-handshake)',
    );
    t.equal((await curl(files, url, files.certs['bob']!, ['--data-binary', 'x'])).status, 403, 'daemons= excludes hmac: 403');
    t.ok(
      await until(() => hmac.logs.some((l) => l['msg'] === 'request' && l['status'] === 403 && /client bob may not use hmac/.test(String(l['reason']))), 5_000),
      "the 403's record says who was refused",
    );
    const rita = files.certs['rita']!;
    // One curl, one connection, several requests: the channel's rate applies per request.
    const many = await curl(files, url, rita, [
      '--data-binary',
      'x',
      '--next',
      '--cacert',
      files.serverCert,
      '--cert',
      rita.cert,
      '--key',
      rita.key,
      '--data-binary',
      'y',
      url,
    ]);
    t.match(many.headers, /^HTTP\/1\.1 429 /m, 'over its rate: 429');
    t.match(many.headers, /^retry-after: \d+/im, 'with Retry-After');
    // At 3/s a channel's opening costs 2: one opened on an empty bucket is refused at once, and is
    // over (a keep-alive client would otherwise read that same 429 on every later request).
    const rhea = files.certs['rhea']!;
    const again = ['--next', '--cacert', files.serverCert, '--cert', rhea.cert, '--key', rhea.key, '--data-binary', 'x', url];
    await curl(files, url, rhea, ['--data-binary', 'x', ...again, ...again]);
    const refusedAtOpen = await curl(files, url, rhea, ['--data-binary', 'x', ...again]);
    t.match(refusedAtOpen.headers, /^HTTP\/1\.1 429 /m, 'a channel opened over the rate: 429');
    t.match(refusedAtOpen.headers, /^connection: close/im, 'and the connection closes: the next request opens a new channel');
    t.equal(refusedAtOpen.headers.match(/^HTTP\/1\.1 /gm)?.length, 2, 'curl sent its second request on a new connection');
    const line = await openssl(files, hmac.ports[0]!, 'hello world\n', alice);
    t.match(line.stdout, /^[0-9a-f]{64}/, 'the MAC line listener answers a tag over TLS');
    const log = hmac.logs.find((l) => l['msg'] === 'request' && l['path'] === '/hmac' && l['outcome'] === 'ok');
    t.equal(log?.['client'], 'alice', "the HTTP request's log line names its client");
  });

  await t.test("tezos: the octez API over HTTPS for curl and Taquito's RemoteSigner with a client certificate", async (t) => {
    const keysFile = writeKeys(dir, seedKeys([TZ1]));
    const tezos = await startDaemon(
      ['tezos', '--keys', keysFile, '--port', '0', '--http-port', '0', '--state-dir', path.join(dir, 'tezos-state'), '--init-watermarks', ...tlsArgs],
      {
        listeners: 2,
      },
    );
    t.teardown(() => tezos.stop());
    const root = `https://127.0.0.1:${tezos.ports[1]}`;
    const shown = await curl(files, `${root}/keys/${TZ1.pkh}`, alice);
    t.equal(shown.status, 200, 'curl GET /keys/<pkh>');
    t.same(JSON.parse(shown.body.toString()), { public_key: TZ1.pk });
    t.equal((await curl(files, `${root}/keys/${TZ1.pkh}`, null)).status, 401, 'no certificate: 401');

    // Taquito's HTTP client (node-fetch) uses node's global HTTPS agent: the client certificate goes there.
    const saved = https.globalAgent;
    https.globalAgent = new https.Agent({ cert: fs.readFileSync(alice.cert), key: fs.readFileSync(alice.key), ca: fs.readFileSync(files.serverCert) });
    t.teardown(() => void (https.globalAgent = saved));
    const signer = new RemoteSigner(TZ1.pkh, root);
    t.equal(await signer.publicKey(), TZ1.pk, 'RemoteSigner reads the public key over HTTPS');
    const block = blockPayload({ level: 1, round: 0 });
    const signed = await signer.sign(block.toString('hex'));
    t.ok(verifySignature(block.toString('hex'), TZ1.pk, signed.prefixSig), 'RemoteSigner signs a block over HTTPS; the signature verifies');

    t.equal((await openssl(files, tezos.ports[0]!, `pubkey ${TZ1.pkh}\n`, alice)).stdout.trim(), TZ1.pk, 'the line listener over TLS');
  });

  await t.test('firmware: the digsigserver API over HTTPS and its line listener', async (t) => {
    const keyRoot = copyKeyRoot(dir);
    const firmware = await startDaemon(['firmware', '--key-root', keyRoot, '--port', '0', '--http-port', '0', ...tlsArgs], { listeners: 2 });
    t.teardown(() => firmware.stop());
    const root = `https://127.0.0.1:${firmware.ports[1]}`;
    t.equal((await curl(files, `${root}/health`, alice)).status, 200, 'curl GET /health with a client certificate');
    t.equal((await curl(files, `${root}/health`, null)).status, 401, 'no certificate: 401');
    t.equal((await curl(files, `${root}/health`, files.certs['bob']!)).status, 403, 'daemons= excludes firmware: 403');
    t.equal((await openssl(files, firmware.ports[0]!, 'PING\n', alice)).stdout.trim(), 'OK PONG', 'the line listener over TLS');
  });
});
