// Bench for client channels: each daemon over TLS 1.3 (kept-open connections, a registered
// certificate client) beside the same daemon in plaintext measured in the same run, as a ratio;
// and full handshakes per second (one request per channel) for certificate and PSK clients.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { generateKeyFiles } from '../lib/admin/keygen-command.js';
import { selfSignedCertificate } from '../lib/channels/self-signed-certificate.js';
import { startDaemon, type RunningDaemon } from '../test/helpers/daemon.js';
import { singleDir } from '../test/unit/hmac/secret-fixtures.js';
import { loadLines, loadOneShot, type BenchRow, type LoadResult } from './harness.js';
import { attestation, tezosLineArgs, TZ1 } from './tezos.bench.js';

const DURATION_MS = Number(process.env['BENCH_MS'] ?? 4_000);
const CONNECTIONS = 16;

interface Credentials {
  dir: string;
  tlsArgs: string[];
  serverCert: Buffer;
  client: { cert: string; key: string };
  psk: Buffer;
}

function credentials(dir: string): Credentials {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const server = selfSignedCertificate({ commonName: 'localhost', role: { kind: 'server', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }, days: 1 });
  const client = selfSignedCertificate({ commonName: 'bench', role: { kind: 'client' }, days: 1 });
  fs.writeFileSync(path.join(dir, 'server.crt'), server.certificatePem);
  fs.writeFileSync(path.join(dir, 'server.key'), server.privateKeyPem, { mode: 0o600 });
  const pin = crypto.createHash('sha256').update(new crypto.X509Certificate(client.certificatePem).raw).digest('hex');
  const psk = crypto.randomBytes(32);
  fs.writeFileSync(path.join(dir, 'clients'), `bench cert-sha256:${pin}\nbench-psk psk:${psk.toString('hex')}\n`, { mode: 0o600 });
  return {
    dir,
    tlsArgs: ['--tls-cert', path.join(dir, 'server.crt'), '--tls-key', path.join(dir, 'server.key'), '--clients', path.join(dir, 'clients')],
    serverCert: Buffer.from(server.certificatePem),
    client: { cert: client.certificatePem, key: client.privateKeyPem },
    psk,
  };
}

function certChannel(c: Credentials, port: number): () => tls.TLSSocket {
  return () => tls.connect({ host: '127.0.0.1', port, ca: c.serverCert, cert: c.client.cert, key: c.client.key });
}

function pskChannel(c: Credentials, port: number): () => tls.TLSSocket {
  return () =>
    tls.connect({
      host: '127.0.0.1',
      port,
      ciphers: 'TLS_AES_128_GCM_SHA256',
      checkServerIdentity: () => undefined,
      pskCallback: () => ({ psk: c.psk, identity: 'bench-psk' }),
    });
}

/** One daemon started twice (plaintext, then TLS), the same load on each. */
async function tlsBesidePlain(
  c: Credentials,
  daemon: string,
  operation: string,
  start: (extra: string[], run: string) => Promise<RunningDaemon>,
  load: (port: number, channel: ((port: number) => () => tls.TLSSocket) | null) => Promise<LoadResult>,
): Promise<BenchRow> {
  const plainDaemon = await start([], 'plain');
  const plain = await load(plainDaemon.port, null);
  await plainDaemon.stop();
  const tlsDaemon = await start(c.tlsArgs, 'tls');
  const overTls = await load(tlsDaemon.port, (port) => certChannel(c, port));
  await tlsDaemon.stop();
  return {
    daemon,
    operation: `${operation}, TLS 1.3 (certificate client), ${CONNECTIONS} conns`,
    ...overTls,
    primitive: 'same daemon, plaintext',
    primitivePerSecond: plain.perSecond,
  };
}

export async function bench(): Promise<BenchRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'signerd-bench-channels-'));
  const c = credentials(path.join(dir, 'tls'));
  const rows: BenchRow[] = [];
  const ecdsa = generateKeyFiles('ecdsa', path.join(dir, 'keys'), 'ecdsa');
  const rsa = generateKeyFiles('rsa', path.join(dir, 'keys'), 'rsa');
  const quiet = { dropLogsAfterStart: true };
  const lines = (
    port: number,
    channel: ((port: number) => () => tls.TLSSocket) | null,
    line: (conn: number, seq: number) => string,
    check: (r: string) => boolean,
  ) => loadLines({ port, connections: CONNECTIONS, durationMs: DURATION_MS / 2, line, check, ...(channel ? { tls: channel(port) } : {}) });

  rows.push(
    await tlsBesidePlain(
      c,
      'sign-ecdsa',
      'sign 30 B',
      (extra, run) =>
        startDaemon(
          ['sign-ecdsa', '--key', ecdsa.privateKeyFile, '--port', '0', '--keep-open', '--state-dir', path.join(dir, `state-${run}`), ...extra],
          quiet,
        ),
      (port, channel) =>
        lines(
          port,
          channel,
          (conn, seq) => `message ${conn} ${seq}`,
          (r) => r.endsWith("')"),
        ),
    ),
  );

  // verify-rsa verifies signatures made here and stored in each run's state directory.
  const signatures = new Map<string, string[]>();
  rows.push(
    await tlsBesidePlain(
      c,
      'verify-rsa',
      'verify',
      async (extra, run) => {
        const stateDir = path.join(dir, `rsa-${run}`);
        const signer = await startDaemon(['sign-rsa', '--key', rsa.privateKeyFile, '--port', '0', '--keep-open', '--state-dir', stateDir], quiet);
        const made: string[] = [];
        await loadLines({
          port: signer.port,
          connections: 4,
          durationMs: 500,
          line: (conn, seq) => `m ${conn} ${seq}`,
          check: (r) => (made.push(/b'([0-9a-f]+)'\)$/.exec(r)![1]!), true),
        });
        await signer.stop();
        signatures.set(run, made);
        const verifier = await startDaemon(
          ['verify-rsa', '--keyring', rsa.publicKeyFile, '--port', '0', '--keep-open', '--state-dir', stateDir, ...extra],
          quiet,
        );
        return verifier;
      },
      (port, channel) => {
        const made = signatures.get(channel ? 'tls' : 'plain')!;
        return lines(
          port,
          channel,
          (conn, seq) => made[(conn * 7919 + seq) % made.length]!,
          (r) => r === "('Validated as:', True)",
        );
      },
    ),
  );

  rows.push(
    await tlsBesidePlain(
      c,
      'hmac',
      'MAC 64 B',
      (extra, run) =>
        startDaemon(['hmac', '--secret-dir', singleDir(path.join(dir, `hmac-${run}`)), '--port', '0', '--verify-port', '0', '--keep-open', ...extra], {
          ...quiet,
          listeners: 2,
        }),
      (port, channel) =>
        lines(
          port,
          channel,
          (conn, seq) => `message ${conn} ${seq} `.padEnd(64, 'x'),
          (r) => /^[0-9a-f]{64}/.test(r),
        ),
    ),
  );

  const keysFile = path.join(dir, 'keys.json');
  fs.writeFileSync(keysFile, JSON.stringify({ keys: { [TZ1.pkh]: { secret_key: TZ1.sk } }, policy: { baking: 1 } }), { mode: 0o600 });
  rows.push(
    await tlsBesidePlain(
      c,
      'tezos',
      'attestation sign (SQLite watermark)',
      (extra, run) => startDaemon(tezosLineArgs(keysFile, '--state-dir', path.join(dir, `tezos-${run}`), ...extra), quiet),
      (port, channel) =>
        lines(
          port,
          channel,
          (conn, seq) => `sign ${TZ1.pkh} ${attestation(conn, seq + 1).toString('hex')}`,
          (r) => r.startsWith('edsig'),
        ),
    ),
  );

  // Handshakes: one request per channel, one client in a loop, beside plaintext one-shot connections.
  const signer = await startDaemon(
    ['sign-ecdsa', '--key', ecdsa.privateKeyFile, '--port', '0', '--state-dir', path.join(dir, 'state-hs'), ...c.tlsArgs],
    quiet,
  );
  const plainSigner = await startDaemon(['sign-ecdsa', '--key', ecdsa.privateKeyFile, '--port', '0', '--state-dir', path.join(dir, 'state-hs-plain')], quiet);
  const oneShot = (port: number, channel?: () => tls.TLSSocket) =>
    loadOneShot({
      port,
      clients: 1,
      durationMs: DURATION_MS / 2,
      line: (_, seq) => `m ${seq}`,
      check: (r) => r.endsWith("')"),
      halfClose: false,
      ...(channel ? { tls: channel } : {}),
    });
  const plainOneShot = await oneShot(plainSigner.port);
  for (const [who, channel] of [
    ['certificate', certChannel(c, signer.port)],
    ['PSK', pskChannel(c, signer.port)],
  ] as const) {
    const result = await oneShot(signer.port, channel);
    rows.push({
      daemon: 'sign-ecdsa',
      operation: `handshake + 1 sign per channel, ${who} client, 1 client`,
      ...result,
      primitive: 'plaintext, 1 conn per request',
      primitivePerSecond: plainOneShot.perSecond,
    });
  }
  await signer.stop();
  await plainSigner.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  return rows;
}
