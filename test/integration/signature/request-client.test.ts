// scripts/request_client.sh, the seed's bash client: its original usage against the RSA ports,
// the ECDSA actions, and multi-chunk replies, run with real bash and nc.
import t from 'tap';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from '../../helpers/repo-root.js';
import { startDaemon } from '../../helpers/daemon.js';
import { needTools } from '../../helpers/tools.js';
import { VALID, makeKeys } from '../../helpers/signature-fixtures.js';

const script = path.join(REPO_ROOT, 'scripts/request_client.sh');
const dir = t.testdir();

function client(args: string[], env: NodeJS.ProcessEnv, input = ''): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile('bash', [script, ...args], { env: { ...process.env, ...env }, timeout: 20_000 }, (err, stdout) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout }),
    );
    // A client that exits without reading its input (a usage error) closes the pipe first: EPIPE is its answer, not a failure.
    child.stdin!.on('error', () => {});
    child.stdin!.end(input);
  });
}

t.test('request_client.sh', needTools('bash', 'nc'), async (t) => {
  const state = ['--state-dir', path.join(dir, 'state'), '--port', '0'];
  const rsa = makeKeys(dir, 'rsa', 'client-rsa');
  const ecdsa = makeKeys(dir, 'ecdsa', 'client-ecdsa');
  const daemons = await Promise.all([
    startDaemon(['sign-rsa', '--key', rsa.privateKeyFile, ...state]),
    startDaemon(['verify-rsa', '--keyring', rsa.publicKeyFile, ...state]),
    startDaemon(['sign-ecdsa', '--key', ecdsa.privateKeyFile, ...state]),
    startDaemon(['verify-ecdsa', '--keyring', ecdsa.publicKeyFile, ...state]),
  ]);
  t.teardown(() => Promise.all(daemons.map((d) => d.stop())));
  const [signRsa, verifyRsa, signEcdsa, verifyEcdsa] = daemons.map((d) => String(d.port));
  const rsaEnv = { SIGNERD_SIGN_PORT: signRsa!, SIGNERD_VERIFY_PORT: verifyRsa! };
  const ecdsaEnv = { SIGNERD_SIGN_PORT: signEcdsa!, SIGNERD_VERIFY_PORT: verifyEcdsa! };

  const signed = await client(['sign', 'localhost', 'yeahthissomecooltokenthingwhatever'], rsaEnv);
  t.equal(signed.code, 0);
  t.match(signed.out, /^\(b'yeahthissomecooltokenthingwhatever', b'[0-9a-f]+'\)\n$/, 'the seed usage, all 34 characters');
  const sig = (await client(['sigs'], {}, signed.out)).out.trim();
  t.equal((await client(['verify', 'localhost', sig], rsaEnv)).out, VALID.rsa + '\n');

  const long = 'z'.repeat(4500);
  const chunked = await client(['sign-ecdsa', 'localhost', long], ecdsaEnv);
  const verdicts = await client(['verify-ecdsa', 'localhost', '-'], ecdsaEnv, chunked.out);
  t.equal(verdicts.out, `${VALID.ecdsa}\n`.repeat(3), 'one verdict per chunk of a multi-chunk reply');

  // A message that holds what looks like a signature: only the real one is taken (Python repr quoting).
  for (const tricky of ["x', b'ab')", `q\\', b'ab') "`, `both ' and " , b'cd')`]) {
    const reply = (await client(['sign-ecdsa', 'localhost', tricky], ecdsaEnv)).out;
    const found = (await client(['sigs'], {}, reply)).out.trim().split('\n');
    t.equal(found.length, 1, `one signature in the reply for ${JSON.stringify(tricky)}`);
    t.match(found[0], /^[0-9a-f]{192}$/);
    t.equal((await client(['verify-ecdsa', 'localhost', '-'], ecdsaEnv, reply)).out, `${VALID.ecdsa}\n`, 'and it verifies');
  }

  t.match((await client(['sign', 'localhost', '-n not an option'], rsaEnv)).out, /^\(b'-n not an option', /, 'a leading -n is sent as text');
  const words = await client(['sign', 'localhost', 'my', 'token'], rsaEnv);
  t.equal(words.code, 1, 'several words unquoted: refused, as neither joining nor dropping them signs what the seed signed');
  t.equal(words.out, '', 'and nothing is signed');
  const usage = await client(['frobnicate'], {});
  t.equal(usage.code, 1, 'unknown action: usage and exit 1, as the seed');
});
