// Bench for HSM-backed daemons: sign-ecdsa, sign-rsa, tezos (tz3) and hmac (single) with keys in a
// throwaway SoftHSM2 token, each beside a direct pkcs11js loop with the same mechanism in this process.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { runSignerd, startDaemon } from '../test/helpers/daemon.js';
import { createToken, needSoftHsm, SOFTHSM_MODULE, type TestToken } from '../test/helpers/softhsm.js';
import { startHsmHmac } from '../test/integration/hmac/hsm-fixtures.js';
import { consensus } from '../test/integration/tezos/payloads.js';
import { pkcs11js } from '../lib/keys/pkcs11-module.js';
import { PKCS11_SESSIONS_MAX } from '../lib/limits.js';
import { loadPipelined } from './hmac.bench.js';
import { levelled, tezosLineArgs } from './tezos.bench.js';
import { loadLines, type BenchRow } from './harness.js';

const DURATION_MS = Number(process.env['BENCH_MS'] ?? 4_000);
const CONNECTIONS = 16;
/** The direct loop runs as many sessions as one daemon key's pool, so the ratio compares like with like. */
const PRIMITIVE = `pkcs11js C_SignAsync, ${PKCS11_SESSIONS_MAX} sessions`;

type P11 = ReturnType<typeof pkcs11js>;

export async function bench(): Promise<BenchRow[]> {
  const missing = needSoftHsm().skip;
  if (missing) {
    process.stderr.write(`bench pkcs11: skipped (${missing})\n`);
    return [];
  }
  const token = createToken('bench');
  process.env['SOFTHSM2_CONF'] = token.env.SOFTHSM2_CONF;
  const rows: BenchRow[] = [];
  try {
    await generate(token, 'ecdsa', 'sign-ecdsa');
    await generate(token, 'rsa', 'sign-rsa');
    await generate(token, 'tz3', 'tezos-tz3');
    await generate(token, 'hmac-secret', 'hmac');
    for (const family of ['ecdsa', 'rsa'] as const) {
      const signer = await startDaemon([`sign-${family}`, '--key', token.uri(family), '--port', '0', '--keep-open', '--state-dir', `${token.dir}/state`], {
        env: token.env,
        dropLogsAfterStart: true,
      });
      const sign = await loadLines({
        port: signer.port,
        connections: CONNECTIONS,
        durationMs: DURATION_MS,
        line: (conn, seq) => `message ${conn} ${seq}`,
        check: (reply) => /b'([0-9a-f]+)'\)$/.test(reply),
      });
      await signer.stop();
      const direct = await directLoop(token, family, (P) => ({
        mechanism:
          family === 'rsa'
            ? { mechanism: P.CKM_RSA_PKCS_PSS, parameter: { type: P.CK_PARAMS_RSA_PSS, hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256, saltLen: 32 } as never }
            : { mechanism: P.CKM_ECDSA },
        input: crypto
          .createHash(family === 'rsa' ? 'sha256' : 'sha384')
          .update('bench message')
          .digest(),
      }));
      rows.push({ daemon: `sign-${family} (HSM)`, operation: 'sign 30 B', ...sign, primitive: PRIMITIVE, primitivePerSecond: direct });
    }
    rows.push(await tezosRow(token));
    rows.push(await hmacRow(token));
  } finally {
    token.cleanup();
  }
  return rows;
}

async function generate(token: TestToken, label: string, purpose: string): Promise<void> {
  const made = await runSignerd(['hsm', 'generate', '--key', token.uri(label), '--for', purpose], '', token.env);
  if (made.code !== 0) throw new Error(`hsm generate ${label}: ${made.stderr}`);
}

/** tz3 attestations on 8 connections (each its own chain id, every request a new level: one watermark write each). */
async function tezosRow(token: TestToken): Promise<BenchRow> {
  const shown = await runSignerd(['tezos', 'hsm-key', '--key', token.uri('tz3'), '--json'], '', token.env);
  if (shown.code !== 0) throw new Error(`tezos hsm-key: ${shown.stderr}`);
  const { pkh } = JSON.parse(shown.stdout) as { pkh: string };
  const keysFile = `${token.dir}/keys.json`;
  fs.writeFileSync(keysFile, JSON.stringify({ keys: { [pkh]: { pkcs11_uri: token.uri('tz3') } }, policy: { baking: 1 } }), { mode: 0o600 });
  const daemon = await startDaemon(tezosLineArgs(keysFile, '--store', 'sqlite', '--state-dir', `${token.dir}/tezos-state`), {
    env: token.env,
    dropLogsAfterStart: true,
  });
  const payload = levelled((conn, level) => {
    const chain = Buffer.alloc(4);
    chain.writeUInt32BE(conn + 1);
    return consensus('attestation', { level, round: 0, chain });
  });
  const result = await loadLines({
    port: daemon.port,
    connections: 8,
    durationMs: DURATION_MS,
    line: (conn) => `sign ${pkh} ${payload(conn).toString('hex')}`,
    check: (reply) => reply.startsWith('p2sig'),
  });
  await daemon.stop();
  // The daemon signs blake2b-256 of the payload: the token sees a 32-byte digest.
  const direct = await directLoop(token, 'tz3', (P) => ({ mechanism: { mechanism: P.CKM_ECDSA }, input: crypto.randomBytes(32) }));
  return { daemon: 'tezos tz3 (HSM, sqlite)', operation: 'sign attestation, 8 conn', ...result, primitive: PRIMITIVE, primitivePerSecond: direct };
}

/** single mode with the secret in the token: 64-byte messages, pipelined as hmac.bench.ts does. */
async function hmacRow(token: TestToken): Promise<BenchRow> {
  const [connections, depth] = [8, 32];
  const daemon = await startHsmHmac(token, ['--mode', 'single', '--secret', token.uri('hmac-secret'), '--keep-open']);
  const tail = 'x'.repeat(54);
  const mac = await loadPipelined(
    daemon.port,
    connections,
    depth,
    DURATION_MS,
    (seq) => Buffer.from(`${String(seq).padStart(10, '0')}${tail}\n`),
    (reply) => reply.length === 64,
  );
  await daemon.stop();
  const direct = await directLoop(token, 'hmac-secret', (P) => ({ mechanism: { mechanism: P.CKM_SHA256_HMAC }, input: crypto.randomBytes(64), secret: true }));
  return {
    daemon: 'hmac single (HSM)',
    operation: `MAC 64 B, ${connections} conn x ${depth} pipelined`,
    ...mac,
    primitive: PRIMITIVE,
    primitivePerSecond: direct,
  };
}

/**
 * The daemon's mechanism on key `label`, one call at a time on each of PKCS11_SESSIONS_MAX sessions
 * at once (one login serves them all), as the daemon's session pool runs it. Rate in calls per second.
 */
async function directLoop(
  token: TestToken,
  label: string,
  how: (P: P11) => { mechanism: { mechanism: number; parameter?: never }; input: Buffer; secret?: boolean },
): Promise<number> {
  const P = pkcs11js();
  const api = new P.PKCS11();
  api.load(SOFTHSM_MODULE);
  api.C_Initialize({ flags: P.CKF_OS_LOCKING_OK });
  try {
    const slot = api.C_GetSlotList(true).find((s) => api.C_GetTokenInfo(s).label.trimEnd() === token.label)!;
    const sessions = Array.from({ length: PKCS11_SESSIONS_MAX }, () => api.C_OpenSession(slot, P.CKF_SERIAL_SESSION));
    api.C_Login(sessions[0]!, P.CKU_USER, token.pin);
    const { mechanism, input, secret } = how(P);
    api.C_FindObjectsInit(sessions[0]!, [
      { type: P.CKA_CLASS, value: secret ? P.CKO_SECRET_KEY : P.CKO_PRIVATE_KEY },
      { type: P.CKA_LABEL, value: label },
    ]);
    const [key] = api.C_FindObjects(sessions[0]!, 1);
    api.C_FindObjectsFinal(sessions[0]!);
    if (!key) throw new Error(`direct loop: no key ${label}`);
    const deadline = Date.now() + DURATION_MS / 2;
    const started = process.hrtime.bigint();
    let count = 0;
    await Promise.all(
      sessions.map(async (session) => {
        while (Date.now() < deadline) {
          api.C_SignInit(session, mechanism, key);
          await api.C_SignAsync(session, input, Buffer.alloc(512));
          count++;
        }
      }),
    );
    return count / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    api.C_Finalize();
  }
}
