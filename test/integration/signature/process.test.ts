// The daemon as a process: clear start-up failures with exit 78 (so systemd does not restart-loop),
// refusal of loosely-permissioned keys, --help documenting every option, and SIGTERM draining.
import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import Database from 'better-sqlite3';
import { runSignerd, SIGNERD, startDaemon } from '../../helpers/daemon.js';
import { request } from '../../helpers/line-client.js';
import { freePort } from '../../helpers/ports.js';
import { get, metricsPortOf } from '../../helpers/operations.js';
import { makeKeys } from '../../helpers/signature-fixtures.js';
import { openSqliteValidityStore } from '../../../lib/store/sqlite-validity-store.js';
import { sleep, waitFor } from '../../helpers/polling.js';

const dir = t.testdir();

t.test('start-up failures exit 78 with one clear line', async (t) => {
  const keys = makeKeys(dir, 'ecdsa', 'proc');
  const state = ['--state-dir', path.join(dir, 'state'), '--port', '0'];

  const missing = await runSignerd(['sign-ecdsa', '--key', path.join(dir, 'nope.pem'), ...state]);
  t.equal(missing.code, 78);
  t.match(missing.stderr, /KEY_LOAD_FAILED: private key .*nope\.pem: ENOENT/);

  fs.chmodSync(keys.privateKeyFile, 0o640);
  const loose = await runSignerd(['sign-ecdsa', '--key', keys.privateKeyFile, ...state]);
  t.equal(loose.code, 78);
  t.match(loose.stderr, /KEY_FILE_INSECURE: private key .* has mode 0640; .*chmod 600/);
  t.notMatch(loose.stderr + loose.stdout, /BEGIN|PRIVATE KEY-----/, 'no key material in the error');
  fs.chmodSync(keys.privateKeyFile, 0o600);

  const wrongType = await runSignerd(['sign-rsa', '--key', keys.privateKeyFile, ...state]);
  t.equal(wrongType.code, 78);
  t.match(wrongType.stderr, /KEY_LOAD_FAILED: .*expected an RSA key/);

  // RSA under 2048 bits can be factored: refused to sign with, and to verify against.
  const weak = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
  const weakKey = path.join(dir, 'rsa-1024-key.pem');
  const weakPub = path.join(dir, 'rsa-1024-pub.pem');
  fs.writeFileSync(weakKey, weak.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  fs.writeFileSync(weakPub, weak.publicKey.export({ type: 'spki', format: 'pem' }));
  const weakSign = await runSignerd(['sign-rsa', '--key', weakKey, ...state]);
  t.equal(weakSign.code, 78);
  t.match(
    weakSign.stderr,
    /^signerd sign-rsa: KEY_LOAD_FAILED: private key .*rsa-1024-key\.pem: an RSA-1024 key is too small \(RSA keys need 2048 bits or more\)\n$/,
  );
  const weakKeyring = await runSignerd(['verify-rsa', '--keyring', weakPub, ...state]);
  t.equal(weakKeyring.code, 78);
  t.match(weakKeyring.stderr, /an RSA-1024 key is too small/);

  const privateInKeyring = await runSignerd(['verify-ecdsa', '--keyring', keys.privateKeyFile, ...state]);
  t.equal(privateInKeyring.code, 78);
  t.match(privateInKeyring.stderr, /holds a private key/);

  const badNumber = await runSignerd(['sign-ecdsa', '--key', keys.privateKeyFile, ...state, '--line-bytes-max', 'lots']);
  t.equal(badNumber.code, 78);
  t.match(badNumber.stderr, /^signerd sign-ecdsa: CONFIG_INVALID: --line-bytes-max/, "a bad value: the daemon's name and a listed code");
  // Past a Node timer's limit a deadline would fire after 1 ms, or, on some paths, never.
  const endless = await runSignerd(['show', 'ab', '--state-dir', path.join(dir, 'state'), '--store-timeout-ms', '3000000000']);
  t.equal(endless.code, 78);
  t.match(endless.stderr, /CONFIG_INVALID: --store-timeout-ms: at most 86400000, got 3000000000/, 'a duration past the timer limit is refused');
  const hugeChunks = await runSignerd(['sign-ecdsa', '--key', keys.privateKeyFile, ...state, '--chunk-bytes', '99999999999']);
  t.equal(hugeChunks.code, 78);
  t.match(hugeChunks.stderr, /CONFIG_INVALID: --chunk-bytes: at most 16777216, got 99999999999/, 'a chunk size past the input bound is refused');
  // Another store's options without --store: the daemon would run on its own SQLite file, and
  // revocations made in the shared store would never reach it.
  const redisWithoutStore = await runSignerd(['sign-ecdsa', '--key', keys.privateKeyFile, ...state, '--redis-url', 'redis://10.0.0.5:6379']);
  t.equal(redisWithoutStore.code, 78, '--redis-url without --store redis: exit 78');
  t.match(
    redisWithoutStore.stderr,
    /^signerd sign-ecdsa: CONFIG_INVALID: --redis-url applies to --store redis, but the store is sqlite \(the default\): give --store redis, or drop --redis-url/,
  );
  const pgConfig = path.join(dir, 'pg-config.json');
  fs.writeFileSync(pgConfig, JSON.stringify({ store: 'etcd', etcdEndpoints: '127.0.0.1:1', postgresUrl: 'postgres://signerd@db/signerd' }));
  const pgInEtcd = await runSignerd(['show', 'ab', '--config', pgConfig]);
  t.equal(pgInEtcd.code, 78, 'an admin command too, from a config file');
  t.match(pgInEtcd.stderr, /CONFIG_INVALID: --postgres-url applies to --store postgres, but the store is etcd: give --store postgres/);
  const unknownOption = await runSignerd(['sign-ecdsa', '--key', keys.privateKeyFile, ...state, '--bogus']);
  t.equal(unknownOption.code, 78);
  t.match(unknownOption.stderr, /^signerd sign-ecdsa: CONFIG_INVALID: unknown option '--bogus'/, 'an unknown option: the same shape');
  // A command of subcommands without one: its help, then the one line that says what is missing.
  for (const [args, line] of [
    [[], 'signerd: CONFIG_INVALID: no command given (signerd --help lists them)'],
    [['hsm'], 'signerd hsm: CONFIG_INVALID: no subcommand given (list, generate, import, public-key)'],
    [['tezos', 'watermark'], 'signerd tezos watermark: CONFIG_INVALID: no subcommand given (init, show, set, export, import, audit)'],
  ] as const) {
    const missing = await runSignerd([...args]);
    t.equal(missing.code, 78, `signerd ${args.join(' ')}: exit 78`);
    t.match(missing.stderr, /^Usage: /, 'the help first');
    t.equal(missing.stderr.trimEnd().split('\n').pop(), line, 'then one line in the shape of every refusal');
  }

  // A state directory others may rename in, or under one: an older database could be swapped in.
  const openParent = path.join(dir, 'open-parent');
  fs.mkdirSync(openParent, { mode: 0o700 });
  fs.chmodSync(openParent, 0o777);
  const openState = await runSignerd(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', '--state-dir', path.join(openParent, 'state')]);
  fs.chmodSync(openParent, 0o700);
  t.equal(openState.code, 78);
  t.match(
    openState.stderr,
    /KEY_FILE_INSECURE: state directory .* is under .*open-parent, which has mode 0777/,
    'a state directory under a directory others may write in',
  );
  // Node's recursive mkdir never returns on such a path (ENOENT for ever under /proc).
  const noDir = await runSignerd(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', '--state-dir', '/proc/signerd-nowhere/state']);
  t.equal(noDir.code, 78, 'a state directory that cannot be made: exit 78, at once');
  t.match(noDir.stderr, /^signerd sign-ecdsa: CONFIG_INVALID: state directory \/proc\/signerd-nowhere\/state: .*ENOENT/);
  const noOut = await runSignerd(['keygen', '--type', 'ecdsa', '--out', '/proc/signerd-nowhere/keys']);
  t.equal(noOut.code, 78);
  t.match(noOut.stderr, /^signerd keygen: CONFIG_INVALID: ENOENT/, 'an admin command: a listed code, not the bare errno');

  const configFile = path.join(dir, 'bad.json');
  fs.writeFileSync(configFile, JSON.stringify({ key: keys.privateKeyFile, typo: 1 }));
  const badConfig = await runSignerd(['sign-ecdsa', '--config', configFile, ...state]);
  t.equal(badConfig.code, 78);
  t.match(badConfig.stderr, /CONFIG_INVALID: config file .*unknown option "typo"/);

  const goodConfig = path.join(dir, 'good.json');
  fs.writeFileSync(goodConfig, JSON.stringify({ key: keys.privateKeyFile, reply: 'json', ttl: 60 }));
  const fromConfig = await startDaemon(['sign-ecdsa', '--config', goodConfig, ...state]);
  t.match(JSON.parse(await request(fromConfig.port, 'cfg')), { algorithm: 'ecdsa-p384-sha384' }, 'options come from the config file');
  t.equal(await fromConfig.stop(), 0);
});

t.test('--help documents the options', async (t) => {
  for (const daemon of ['sign-rsa', 'verify-rsa', 'sign-ecdsa', 'verify-ecdsa']) {
    const help = await runSignerd([daemon, '--help']);
    t.equal(help.code, 0);
    for (const option of ['--port', '--host', '--store', '--redis-url', '--keep-open', '--reply', '--line-bytes-max', '--idle-timeout-ms', '--config']) {
      t.ok(help.stdout.includes(option), `${daemon} --help mentions ${option}`);
    }
  }
  const top = await runSignerd(['--help']);
  for (const command of ['keygen', 'revoke', 'reinstate', 'show', 'export', 'import']) t.ok(top.stdout.includes(command), `signerd --help lists ${command}`);
});

t.test('the built CLI runs as installed: executable, --version, keygen', async (t) => {
  // systemd's ExecStart and the README run dist/bin/signerd.cjs through a symlink, not through node.
  t.ok(fs.statSync(SIGNERD).mode & 0o111, 'dist/bin/signerd.cjs is executable');
  const pkg = JSON.parse(fs.readFileSync(path.join(path.dirname(SIGNERD), '../../package.json'), 'utf8')) as { version: string };
  const version = await runSignerd(['--version']);
  t.same([version.code, version.stdout.trim()], [0, pkg.version], 'signerd --version');

  const out = path.join(dir, 'keygen');
  fs.mkdirSync(out);
  const made = await runSignerd(['keygen', '--type', 'ecdsa', '--out', out]);
  t.equal(made.code, 0, made.stderr);
  t.equal(fs.statSync(path.join(out, 'ecdsa-key.pem')).mode & 0o777, 0o600, 'private key 0600');
  const signer = await startDaemon(['sign-ecdsa', '--key', path.join(out, 'ecdsa-key.pem'), '--state-dir', path.join(dir, 'keygen-state'), '--port', '0']);
  t.teardown(() => signer.stop());
  t.match(await request(signer.port, 'made by keygen'), /^\(b'made by keygen', b'[0-9a-f]{192}'\)$/, 'sign-ecdsa signs with it');
  const again = await runSignerd(['keygen', '--type', 'ecdsa', '--out', out]);
  t.equal(again.code, 78, 'an existing key is never overwritten');
  t.match(again.stderr, /exists/);
  const rsa = await runSignerd(['keygen', '--type', 'rsa', '--out', out]);
  t.equal(rsa.code, 0, rsa.stderr);
  t.match(fs.readFileSync(path.join(out, 'rsa-pub.pem'), 'utf8'), /BEGIN PUBLIC KEY/);
  t.equal(crypto.createPublicKey(fs.readFileSync(path.join(out, 'rsa-pub.pem'))).asymmetricKeyDetails?.modulusLength, 4096, 'RSA-4096 by default');
  const escaping = await runSignerd(['keygen', '--type', 'ecdsa', '--out', out, '--name', '../escaped']);
  t.equal(escaping.code, 78, '--name is a stem, not a path out of --out');
  t.notOk(fs.existsSync(path.join(dir, 'escaped-key.pem')), 'nothing written outside --out');
  const ecBits = await runSignerd(['keygen', '--type', 'ecdsa', '--out', out, '--name', 'bits', '--bits', '4096']);
  t.equal(ecBits.code, 78, '--bits with an ecdsa key is refused, not ignored');
  t.match(ecBits.stderr, /--bits is for RSA keys/);
});

t.test('an admin command whose reader stops early exits 0, without a stack trace', async (t) => {
  const stateDir = path.join(dir, 'epipe-state');
  const store = openSqliteValidityStore({ stateDir, busyTimeoutMs: 1_000, synchronous: 'FULL', create: true });
  const signature = 'ab'.repeat(96);
  await store.put({ signature, message: Buffer.from('m'), keyId: 'k', algorithm: 'ecdsa-p384-sha384', createdMs: Date.now(), expiresMs: null });
  await store.close();
  // `signerd show <sig> | head -1`: here the read end is gone before signerd writes at all.
  const child = spawn(process.execPath, [SIGNERD, 'show', signature, '--state-dir', stateDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.equal(code, 0);
  t.equal(stderr, '', 'nothing on stderr');
});

t.test('verify-rsa sizes its thread pool to the cores less one; UV_THREADPOOL_SIZE wins', async (t) => {
  const keys = makeKeys(dir, 'rsa', 'pool');
  const threadsOf = async (pool: string | undefined): Promise<number> => {
    // Through env(1), as systemd would start it: tap's process hooks put --import in NODE_OPTIONS
    // (on every spawn), and an ES module loaded that way starts the pool before signerd runs.
    const unset = ['-u', 'NODE_OPTIONS', ...(pool === undefined ? ['-u', 'UV_THREADPOOL_SIZE'] : [`UV_THREADPOOL_SIZE=${pool}`])];
    const child = spawn(
      'env',
      [...unset, process.execPath, SIGNERD, 'verify-rsa', '--keyring', keys.publicKeyFile, '--state-dir', path.join(dir, 'pool-state'), '--port', '0'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    t.teardown(() => child.kill('SIGKILL'));
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const listening = /"port":(\d+).*"msg":"listening"|"msg":"listening".*"port":(\d+)/.exec(out);
        if (listening) resolve(Number(listening[1] ?? listening[2]));
      });
      child.once('exit', (code) => reject(new Error(`verify-rsa exited ${code}`)));
    });
    t.equal(await request(port, 'ab'.repeat(512)), "('Validated as:', False)", 'serving (no record: not valid)');
    const threads = fs.readdirSync(`/proc/${child.pid}/task`).length;
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    return threads;
  };
  const byDefault = await threadsOf(undefined);
  const bySetting = await threadsOf('9');
  t.equal(
    bySetting - byDefault,
    9 - Math.max(1, os.availableParallelism() - 1),
    `pool threads: cores - 1 by default, 9 when the operator says so (${byDefault} → ${bySetting} threads)`,
  );
});

t.test('a pool with a thread per core runs below the event loop (nice +10); verify-rsa keeps its priority', async (t) => {
  const rsa = makeKeys(dir, 'rsa', 'nice-rsa');
  const ecdsa = makeKeys(dir, 'ecdsa', 'nice-ecdsa');
  /** The nice value of each of the daemon's threads once it serves (the main thread first). */
  const niceOf = async (args: string[]): Promise<number[]> => {
    // Through env(1) without NODE_OPTIONS, as systemd starts it (see the pool-size test above).
    const child = spawn('env', ['-u', 'NODE_OPTIONS', '-u', 'UV_THREADPOOL_SIZE', process.execPath, SIGNERD, ...args, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.teardown(() => child.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"msg":"listening"')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`${args[0]} exited ${code}`)));
    });
    const nices = fs
      .readdirSync(`/proc/${child.pid}/task`)
      .sort((a, b) => Number(a) - Number(b))
      .map((tid) => Number(fs.readFileSync(`/proc/${child.pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[16]));
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    return nices;
  };
  const sign = await niceOf(['sign-ecdsa', '--key', ecdsa.privateKeyFile, '--state-dir', path.join(dir, 'nice-sign')]);
  t.equal(sign[0], 0, 'the event loop keeps its priority');
  // libuv's default pool has 4 threads: a thread for every core on up to 4 cores.
  const lowered = os.availableParallelism() <= 4 ? 4 : 0;
  t.equal(sign.filter((n) => n === 10).length, lowered, `sign-ecdsa: ${lowered} pool threads at nice 10 (${os.availableParallelism()} cores)`);
  const verify = await niceOf(['verify-rsa', '--keyring', rsa.publicKeyFile, '--state-dir', path.join(dir, 'nice-verify')]);
  t.same(
    verify.filter((n) => n !== 0),
    [],
    'verify-rsa: its pool leaves a core to the loop, so no thread is lowered',
  );
});

/**
 * What the daemon listening on `port` has not taken yet (Linux /proc/net/tcp): connections in its
 * accept queue and unread bytes in its sockets (rx_queue of the sockets on its port), and bytes its
 * clients sent that it has not acknowledged (tx_queue of the sockets connected to its port).
 */
function notYetTaken(port: number): number {
  const hexPort = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  let total = 0;
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [, local, remote, , queues] = line.trim().split(/\s+/);
    const [tx = 0, rx = 0] = (queues ?? '').split(':').map((hex) => parseInt(hex, 16));
    if (local?.endsWith(hexPort)) total += rx;
    else if (remote?.endsWith(hexPort)) total += tx;
  }
  return total;
}

t.test('SIGTERM drains in-flight requests and exits 0', async (t) => {
  const keys = makeKeys(dir, 'rsa', 'drain', 4096);
  const signer = await startDaemon(['sign-rsa', '--key', keys.privateKeyFile, '--port', '0', '--state-dir', path.join(dir, 'state'), '--metrics-port', '0']);
  const ops = metricsPortOf(signer);
  // Connections are accepted and their lines received before SIGTERM; each line is 10 RSA-4096
  // chunks, so they are still being signed when the signal arrives.
  const sockets = await Promise.all(
    Array.from(
      { length: 8 },
      () =>
        new Promise<net.Socket>((resolve) => {
          const s = net.connect(signer.port, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const replies = sockets.map(
    (s, i) =>
      new Promise<string>((resolve, reject) => {
        let data = '';
        s.on('data', (d) => (data += d.toString()));
        s.on('error', reject);
        s.on('close', () => resolve(data));
        s.end('x'.repeat(20_000) + i + '\n');
      }),
  );
  // SIGTERM once the daemon has taken every line (accepted its connection and read it): a fixed
  // 100 ms was not always enough on a loaded machine, and a line still unread at the signal is never run.
  for (let i = 0; i < 500 && !(sockets.every((s) => s.writableFinished) && notYetTaken(signer.port) === 0); i++) {
    await sleep(10);
  }
  const stopping = signer.stop('SIGTERM');
  // While it drains, the operations listener answers 503: a balancer sees the drain, not a refused connection.
  let seen: number | string = 'nothing';
  for (let i = 0; i < 200 && seen !== 503; i++) {
    seen = await get(ops, '/readyz').then(
      (r) => r.status,
      () => 'refused',
    );
    if (seen === 'refused') break;
    await sleep(10);
  }
  t.equal(seen, 503, '/readyz during the drain: 503, not a refused connection');
  const code = await stopping;
  t.equal(code, 0, 'exit 0');
  for (const reply of await Promise.all(replies)) t.match(reply, /^(\(b'x+\d?', b'[0-9a-f]+'\) ?){10}\n$/, 'accepted request completed, whole line');
  t.ok(
    signer.logs.some((l) => l['msg'] === 'stopped'),
    'logged its stop',
  );
});

// Regression: with its stdout reader gone, a daemon hung on SIGTERM, because the log stream's
// exit-time flush retried a broken write for ever.
t.test('SIGTERM still exits 0 when stdout has no reader', async (t) => {
  const keys = makeKeys(dir, 'ecdsa', 'dead-stdout');
  const proc = spawn(process.execPath, [SIGNERD, 'sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', '--state-dir', path.join(dir, 'state')], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const port = await new Promise<number>((resolve) => {
    let buffered = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buffered += d.toString();
      const m = /"port":(\d+),.*"msg":"listening"/.exec(buffered);
      if (m) resolve(Number(m[1]));
    });
  });
  proc.stdout!.destroy();
  // Log lines now have nowhere to go.
  for (let i = 0; i < 20; i++) await request(port, `line ${i}`);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  proc.kill('SIGTERM');
  t.equal(await exited, 0);
});

t.test('SIGTERM past the drain deadline: requests still running end before the store closes', async (t) => {
  const keys = makeKeys(dir, 'rsa', 'drain-cut');
  const daemon = await startDaemon([
    'sign-rsa',
    '--key',
    keys.privateKeyFile,
    '--port',
    '0',
    '--state-dir',
    path.join(dir, 'state-drain'),
    '--keep-open',
    '--drain-ms-max',
    '200',
  ]);
  const socket = net.connect(daemon.port, '127.0.0.1', () => socket.write('tok\n'.repeat(3000)));
  socket.on('error', () => undefined);
  socket.resume();
  t.teardown(() => socket.destroy());
  await sleep(500);
  t.equal(await daemon.stop('SIGTERM'), 0, 'exit 0');
  const faults = daemon.logs.filter((l) => l['level'] === 'warn' || l['level'] === 'error');
  t.same(faults, [], 'no request failed on a store closed under it (it was logged as a store outage)');
  t.equal(daemon.logs[daemon.logs.length - 1]?.['msg'], 'stopped', 'every record comes before "stopped"');
});

t.test('a request still waiting on the store at the drain deadline: ERR SHUTTING_DOWN and that outcome, not a store outage', async (t) => {
  const keys = makeKeys(dir, 'ecdsa', 'drain-deadline');
  const state = path.join(dir, 'state-drain-deadline');
  const daemon = await startDaemon([
    'sign-ecdsa',
    '--key',
    keys.privateKeyFile,
    '--port',
    '0',
    '--state-dir',
    state,
    '--store-timeout-ms',
    '20000',
    '--drain-ms-max',
    '500',
  ]);
  t.equal((await request(daemon.port, 'first')).startsWith("(b'first'"), true, 'the store is made');
  // Another process holds the write lock: the request waits for it (up to --store-timeout-ms).
  const holder = new Database(path.join(state, 'validity.sqlite'), { timeout: 0 });
  holder.exec('BEGIN IMMEDIATE');
  t.teardown(() => holder.close());
  const reply = request(daemon.port, 'waits');
  await sleep(300);
  const stopped = daemon.stop('SIGTERM');
  t.match(await reply, /^ERR SHUTTING_DOWN the daemon stopped before this request was answered/, 'its client reads why');
  holder.exec('ROLLBACK');
  t.equal(await stopped, 0, 'exit 0');
  const records = daemon.logs.filter((l) => l['msg'] === 'request');
  t.same(
    records.map((l) => l['outcome']),
    ['ok', 'SHUTTING_DOWN'],
    'one record each; the cut one is SHUTTING_DOWN, not STORE_UNAVAILABLE',
  );
  t.same(
    daemon.logs.filter((l) => l['level'] === 'warn' || l['level'] === 'error'),
    [],
    'no fault logged',
  );
});

t.test('a SIGHUP as soon as the daemon listens never stops it (Node exits on SIGHUP by default)', async (t) => {
  const keys = makeKeys(dir, 'ecdsa', 'early-hup');
  for (let i = 0; i < 5; i++) {
    const daemon = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', '--state-dir', path.join(dir, `state-hup-${i}`)]);
    daemon.proc.kill('SIGHUP');
    t.match(await request(daemon.port, 'hello'), /^\(b'hello', b'[0-9a-f]+'\)$/, `start ${i + 1}: still serving`);
    t.equal(await daemon.stop('SIGTERM'), 0, `start ${i + 1}: a clean exit`);
  }
});

t.test('a SIGHUP while the daemon loads its code never stops it either', async (t) => {
  const keys = makeKeys(dir, 'ecdsa', 'loading-hup');
  // SIGHUP is caught (bit 0 of SigCgt) from the first lines of dist/bin/signerd.cjs on; from then a
  // reload signal every 10 ms until the daemon listens lands in every phase of its start.
  const caughtHup = (pid: number): boolean => {
    try {
      const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '0';
      return (BigInt(`0x${mask}`) & 1n) === 1n;
    } catch {
      return false;
    }
  };
  const proc = spawn(
    process.execPath,
    [SIGNERD, 'sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', '--state-dir', path.join(dir, 'state-loading-hup')],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(() => caughtHup(proc.pid!) || proc.exitCode !== null, 10_000, 'SIGHUP caught');
  let signals = 0;
  const port = (): number | undefined =>
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l['msg'] === 'listening')?.['port'] as number | undefined;
  while (port() === undefined && proc.exitCode === null && proc.signalCode === null) {
    proc.kill('SIGHUP');
    signals++;
    await sleep(10);
  }
  t.equal(proc.signalCode, null, `not ended by any of ${signals} SIGHUPs`);
  t.ok(signals > 1, 'signals came while it loaded');
  t.match(await request(port()!, 'hello'), /^\(b'hello', b'[0-9a-f]+'\)$/, 'it serves');
  proc.kill('SIGTERM');
  t.equal(await exited, 0, 'a clean exit');
});

t.test('SIGTERM: an idle kept-open connection, or one not yet sent on, reads ERR SHUTTING_DOWN before the close', async (t) => {
  const keys = makeKeys(dir, 'ecdsa', 'drain-idle');
  const signer = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', '--keep-open', '--state-dir', path.join(dir, 'state')]);
  const connect = (): Promise<{ socket: net.Socket; lines: () => string[]; closed: Promise<void> }> =>
    new Promise((resolve) => {
      let data = '';
      const socket = net.connect(signer.port, '127.0.0.1', () => resolve({ socket, lines: () => data.split('\n').filter(Boolean), closed }));
      socket.on('data', (d) => (data += d.toString()));
      socket.on('error', () => undefined);
      const closed = new Promise<void>((done) => socket.on('close', () => done()));
    });
  const kept = await connect();
  kept.socket.write('first\n');
  await waitFor(() => kept.lines().length === 1, 5_000, 'the first reply');
  const fresh = await connect();
  await waitFor(() => notYetTaken(signer.port) === 0, 5_000, 'both connections accepted');
  const stopped = signer.stop('SIGTERM');
  await Promise.all([kept.closed, fresh.closed]);
  t.equal(await stopped, 0, 'exit 0');
  t.match(kept.lines()[0], /^\(b'first', b'[0-9a-f]+'\)$/, 'the request before the signal was answered');
  t.same(kept.lines().slice(1), ['ERR SHUTTING_DOWN daemon is shutting down'], 'then the kept-open connection is told why it closes');
  t.same(fresh.lines(), ['ERR SHUTTING_DOWN daemon is shutting down'], 'and so is one that had not sent yet');
});

t.test('a port already in use exits 69 (systemd retries), not 78', async (t) => {
  const keys = makeKeys(dir, 'ecdsa', 'port-in-use');
  const first = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', '--state-dir', path.join(dir, 'state')]);
  t.teardown(() => first.stop());
  const second = await runSignerd(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', String(first.port), '--state-dir', path.join(dir, 'state')]);
  t.equal(second.code, 69, 'EX_UNAVAILABLE: the port may be free on the next try (a previous instance still stopping)');
  t.match(second.stderr, /cannot listen: EADDRINUSE/);
  // Its own two listeners on one port: no restart would mend that.
  const port = await freePort();
  const twice = await runSignerd([
    'sign-ecdsa',
    '--key',
    keys.privateKeyFile,
    '--port',
    String(port),
    '--metrics-port',
    String(port),
    '--state-dir',
    path.join(dir, 'state'),
  ]);
  t.equal(twice.code, 78, "one port for two of the daemon's listeners: a configuration error, exit 78");
  t.match(twice.stderr, new RegExp(`CONFIG_INVALID: cannot listen: port ${port} is given to two of this daemon's listeners`));
});

t.test('admin commands check what they would write into a certificate, and name themselves as typed', async (t) => {
  const out = path.join(dir, 'tls-checks');
  const badIp = await runSignerd(['tls', 'selfsigned', '--out', out, '--ip', '999.1.1.1']);
  t.equal(badIp.code, 78);
  t.match(badIp.stderr, /^signerd tls selfsigned: CONFIG_INVALID: --ip "999.1.1.1": not an IPv4 or IPv6 address/);
  const badName = await runSignerd(['tls', 'selfsigned', '--out', out, '--dns', 'bad name']);
  t.equal(badName.code, 78);
  t.match(badName.stderr, /--dns "bad name": not a DNS name/);
  const forever = await runSignerd(['tls', 'selfsigned', '--out', out, '--days', '99999999']);
  t.equal(forever.code, 78, 'a lifetime X.509 tools cannot read back is refused');
  t.match(forever.stderr, /--days: at most 36500/);
  t.notOk(fs.existsSync(path.join(out, 'server.key')), 'nothing written');
  const deep = await runSignerd(['tezos', 'watermark', 'set', '--level', '-1']);
  t.match(deep.stderr, /^signerd tezos watermark set: CONFIG_INVALID: --level/, 'a three-level command names itself whole');
  const serve = await runSignerd(['log', 'serve', '--transparency-log', path.join(dir, 'no-such-log'), '--port', '0']);
  t.equal(serve.code, 78);
  t.match(serve.stderr, /^signerd log serve: CONFIG_INVALID: --transparency-log /, 'log serve, as typed');
});

t.test('a state directory replaced or moved under sign and verify daemons: never a signature without its record, never a stale verdict', async (t) => {
  const keys = makeKeys(dir, 'ecdsa', 'moved-state');
  const state = path.join(dir, 'moved-state');
  const signer = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', '--state-dir', state, '--metrics-port', '0']);
  t.teardown(() => signer.stop());
  const verifier = await startDaemon(['verify-ecdsa', '--keyring', keys.publicKeyFile, '--port', '0', '--state-dir', state]);
  t.teardown(() => verifier.stop());
  const signed = (await request(signer.port, 'kept')).match(/b'([0-9a-f]+)'\)$/)?.[1];
  t.ok(signed, 'signs');
  t.equal(await request(verifier.port, signed!), 'Valid entry found.', 'verifies');

  // Moved away and back: refused meanwhile (sign and verify), then serving again by themselves.
  fs.renameSync(state, `${state}.away`);
  t.match(
    await request(signer.port, 'while away'),
    /^ERR STORE_UNAVAILABLE sqlite write: .*validity\.sqlite was removed while this process had it open/,
    'sign: refused',
  );
  t.match(await request(verifier.port, signed!), /^ERR STORE_UNAVAILABLE /, 'verify: no verdict');
  await waitFor(async () => (await get(metricsPortOf(signer), '/readyz')).status === 503, 10_000, 'not ready while the store is away');
  fs.renameSync(`${state}.away`, state);
  t.match(await request(signer.port, 'back'), /^\(b'back', b'[0-9a-f]+'\)$/, 'sign: back');
  t.equal(await request(verifier.port, signed!), 'Valid entry found.', 'verify: back');

  // Replaced by a copy, then revoked there (a restore, then an operator's revoke): the verifier must
  // not answer from the unlinked original, where the record is still live.
  // The daemon's readiness probe makes and removes a file there every second: not copied.
  fs.cpSync(state, `${state}.copy`, { recursive: true, filter: (src) => !path.basename(src).startsWith('.readiness-probe-') });
  fs.rmSync(state, { recursive: true });
  fs.renameSync(`${state}.copy`, state);
  const revoke = await runSignerd(['revoke', signed!, '--state-dir', state]);
  t.equal(revoke.code, 0, `revoked in the store now at --state-dir: ${revoke.stderr}`);
  t.match(await request(verifier.port, signed!), /^ERR STORE_UNAVAILABLE .*validity\.sqlite was replaced/, 'verify: refused, never "Valid"');
  t.match(await request(signer.port, 'after the copy'), /^ERR STORE_UNAVAILABLE /, 'sign: refused');

  // Its write-ahead log deleted: a record written now would be lost at the next restart.
  const fresh = await startDaemon(['sign-ecdsa', '--key', keys.privateKeyFile, '--port', '0', '--state-dir', state]);
  t.teardown(() => fresh.stop());
  t.match(await request(fresh.port, 'fresh'), /^\(b'fresh'/, 'a new daemon on the store signs');
  fs.rmSync(path.join(state, 'validity.sqlite-wal'));
  t.match(await request(fresh.port, 'no log'), /^ERR STORE_UNAVAILABLE .*validity\.sqlite-wal was removed/, 'its -wal deleted: refused');
});
