// Fixtures for the i.MX HAB4 tests: an NXP-style PKI made with the real openssl (four SRK CAs, CSF and
// IMG certificates issued by one of them, RSA-2048) laid out as a key root's <machine>/imxsign/
// directory, a CST text CSF, and the openssl cms -verify call that checks a signature csf_parser extracted.
import fs from 'node:fs';
import path from 'node:path';
import { cmsVerify, selfSignedCertArgs, tool } from './line-fixtures.js';

function openssl(args: string[], cwd: string): void {
  const r = tool('openssl', args, { cwd });
  if (r.code !== 0) throw new Error(`openssl ${args[0]}: ${r.out}`);
}

/**
 * srk1.crt..srk4.crt (+ .der for srktool, .key), csf.key/csf.crt and img.key/img.crt issued by
 * srk<issuer>.crt, keys mode 0600: what `<key root>/<machine>/imxsign/` holds. Returns `dir`.
 */
export function makeHabPki(dir: string, issuer = 1): string {
  fs.mkdirSync(dir, { recursive: true });
  for (let i = 1; i <= 4; i++) {
    openssl(selfSignedCertArgs(`srk${i}.key`, `srk${i}.crt`, `/CN=SRK${i}`, 3650, ['-addext', 'basicConstraints=critical,CA:true']), dir);
    openssl(['x509', '-in', `srk${i}.crt`, '-outform', 'DER', '-out', `srk${i}.der`], dir);
  }
  fs.writeFileSync(path.join(dir, 'usr.cnf'), '[usr]\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n');
  for (const name of ['csf', 'img']) {
    openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    const ca = `srk${issuer}`;
    openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-set_serial', '7', '-out', `${name}.crt`, '-days', '3650'].concat([
        '-extfile',
        'usr.cnf',
        '-extensions',
        'usr',
      ]),
      dir,
    );
  }
  for (const file of fs.readdirSync(dir)) if (file.endsWith('.key')) fs.chmodSync(path.join(dir, file), 0o600);
  return dir;
}

/** A CST text CSF as NXP's i.MX 8M examples write it (File lines name CST's PKI; the daemon ignores them). */
export const csfText = (blocks: string, extra = '') => `[Header]
    Version = 4.3
    Hash Algorithm = sha256
    Engine = CAAM
    Engine Configuration = 0
    Certificate Format = X509
    Signature Format = CMS

[Install SRK]
    File = "../crts/SRK_1_2_3_4_table.bin"
    Source index = 0

[Install CSFK]
    File = "../crts/CSF1_1_sha256_2048_65537_v3_usr_crt.pem"

[Authenticate CSF]

[Unlock]
    Engine = CAAM
    Features = MID
${extra}
[Install Key]
    Verification index = 0
    Target Index = 2
    File = "../crts/IMG1_1_sha256_2048_65537_v3_usr_crt.pem"

[Authenticate Data]
    Verification index = 2
    Blocks = ${blocks}
`;

/** openssl cms -verify of a detached HAB signature over `content`, with the signer's certificate and the SRK as trust anchor. */
export function habSignatureVerifies(sig: string, content: string, cert: string, srk: string, cwd: string): boolean {
  return cmsVerify(sig, content, srk, { cwd, certfile: cert, partialChain: true }).code === 0;
}
