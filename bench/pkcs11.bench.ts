// Bench for HSM-backed signing: sign-ecdsa and sign-rsa with keys in a throwaway SoftHSM2 token,
// through the daemon (16 keep-open connections), beside a direct pkcs11js C_SignAsync loop in this process.
import crypto from 'node:crypto';
import { runSignerd, startDaemon } from '../test/helpers/daemon.js';
import { createToken, needSoftHsm, SOFTHSM_MODULE } from '../test/helpers/softhsm.js';
import { pkcs11js } from '../lib/keys/pkcs11-module.js';
import { loadLines, type BenchRow } from './harness.js';

const DURATION_MS = Number(process.env['BENCH_MS'] ?? 4_000);
const CONNECTIONS = 16;

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
    for (const family of ['ecdsa', 'rsa'] as const) {
      const made = await runSignerd(['hsm', 'generate', '--key', token.uri(family), '--for', `sign-${family}`], '', token.env);
      if (made.code !== 0) throw new Error(`hsm generate: ${made.stderr}`);
      const signer = await startDaemon([`sign-${family}`, '--key', token.uri(family), '--port', '0', '--keep-open', '--state-dir', `${token.dir}/state`], { env: token.env });
      const sign = await loadLines({
        port: signer.port,
        connections: CONNECTIONS,
        durationMs: DURATION_MS,
        line: (conn, seq) => `message ${conn} ${seq}`,
        check: (reply) => /b'([0-9a-f]+)'\)$/.test(reply),
      });
      await signer.stop();
      const direct = await directLoop(token.label, token.pin, family);
      rows.push({ daemon: `sign-${family} (HSM)`, operation: 'sign 30 B', ...sign, primitive: `pkcs11js C_SignAsync, 1 session`, primitivePerSecond: direct });
    }
  } finally {
    token.cleanup();
  }
  return rows;
}

/** The same mechanism as the daemon (prehash + CKM_ECDSA / CKM_RSA_PKCS_PSS), one call at a time. */
async function directLoop(label: string, pin: string, family: 'ecdsa' | 'rsa'): Promise<number> {
  const P = pkcs11js();
  const api = new P.PKCS11();
  api.load(SOFTHSM_MODULE);
  api.C_Initialize({ flags: P.CKF_OS_LOCKING_OK });
  try {
    const slot = api.C_GetSlotList(true).find((s) => api.C_GetTokenInfo(s).label.trimEnd() === label)!;
    const session = api.C_OpenSession(slot, P.CKF_SERIAL_SESSION);
    api.C_Login(session, P.CKU_USER, pin);
    api.C_FindObjectsInit(session, [{ type: P.CKA_CLASS, value: P.CKO_PRIVATE_KEY }, { type: P.CKA_LABEL, value: family }]);
    const [key] = api.C_FindObjects(session, 1);
    api.C_FindObjectsFinal(session);
    const mechanism = family === 'rsa' ? { mechanism: P.CKM_RSA_PKCS_PSS, parameter: { type: P.CK_PARAMS_RSA_PSS, hashAlg: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256, saltLen: 32 } as never } : { mechanism: P.CKM_ECDSA };
    const digest = crypto.createHash(family === 'rsa' ? 'sha256' : 'sha384').update('bench message').digest();
    const deadline = Date.now() + DURATION_MS / 2;
    const started = process.hrtime.bigint();
    let count = 0;
    while (Date.now() < deadline) {
      api.C_SignInit(session, mechanism, key!);
      await api.C_SignAsync(session, digest, Buffer.alloc(512));
      count++;
    }
    return count / (Number(process.hrtime.bigint() - started) / 1e9);
  } finally {
    api.C_Finalize();
  }
}
