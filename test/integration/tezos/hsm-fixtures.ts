// Set-up for the tezos HSM tests: a throwaway SoftHSM2 token holding the known tz1/tz2/tz3 test keys
// (imported as PKCS#8 PEM by `signerd hsm import`'s code, in this process, so their pkh is predictable) and a keys.json naming them by URI.
import fs from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';
import { tezosSecretPem } from '../../../daemons/tezos/keys/tezos-key-pem.js';
import { createToken, importIntoTestToken, type TestToken } from '../../helpers/softhsm.js';
import { TZ1, TZ2, TZ3 } from './fixtures.js';

export const HSM_KEYS = [
  { ...TZ1, label: 'baker-tz1', for: 'tezos-tz1' },
  { ...TZ2, label: 'baker-tz2', for: 'tezos-tz2' },
  { ...TZ3, label: 'baker-tz3', for: 'tezos-tz3' },
] as const;

/** A Tezos edsk/spsk/p2sk secret key as a PKCS#8 PEM, the form `signerd hsm import` has always taken. */
export function pemOf(sk: string): string {
  return tezosSecretPem(sk);
}

/** A token with the three known keys imported under HSM_KEYS' labels; removed at teardown. */
export async function tezosToken(t: Test, label: string): Promise<TestToken> {
  const token = createToken(label);
  t.teardown(() => token.cleanup());
  for (const key of HSM_KEYS) {
    const pemFile = path.join(token.dir, `${key.label}.pem`);
    fs.writeFileSync(pemFile, pemOf(key.sk), { mode: 0o600 });
    await importIntoTestToken(token, key.label, key.for, pemFile);
    fs.rmSync(pemFile);
  }
  return token;
}

/** signerd's form: each key named by its pkh, held in the token by pkcs11: URI. */
export function hsmKeysConfig(token: TestToken, policy: Record<string, unknown> = { baking: 1, voting: ['aye', 'pass'] }): unknown {
  return { keys: Object.fromEntries(HSM_KEYS.map((k) => [k.pkh, { pkcs11_uri: token.uri(k.label) }])), policy };
}
