// The i.MX HAB4 Super Root Keys of one machine: srk1.crt..srk4.crt beside its CSF and IMG keys, read
// once at start-up. The SRK table is built from them in that order; the CSF and IMG certificates must
// both be issued by one of them, or the boot ROM would refuse every image signed with this machine's keys.
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DaemonError } from '../../../lib/errors.js';
import { readCertificateFile, type SigningCertificate } from './certificate.js';
import { HAB_SRK_FILES } from './key-slots.js';

export interface HabSrks {
  /** SRK certificates in table order (srk1.crt first). */
  readonly certificates: readonly X509Certificate[];
  /** Index in the table (0-3) of the SRK that issued the CSF and IMG certificates: a CSF must name it in Install SRK. */
  readonly issuerIndex: number;
}

/** Reads srk1.crt.. (no gaps, at least srk1.crt) and finds the SRK that issued both certificates; KEY_LOAD_FAILED otherwise. */
export function loadHabSrks(dir: string, csf: SigningCertificate, img: SigningCertificate): HabSrks {
  const certificates: X509Certificate[] = [];
  for (const name of HAB_SRK_FILES) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) break;
    const raw = readCertificateFile(file, 'SRK certificate');
    try {
      certificates.push(new X509Certificate(raw));
    } catch (err) {
      throw new DaemonError('KEY_LOAD_FAILED', `SRK certificate ${file}: not a readable PEM or DER X.509 certificate`, { cause: err });
    }
    if (certificates.at(-1)!.publicKey.asymmetricKeyType !== 'rsa') throw new DaemonError('KEY_LOAD_FAILED', `SRK certificate ${file}: HAB4 SRKs are RSA keys`);
  }
  if (certificates.length === 0)
    throw new DaemonError('KEY_LOAD_FAILED', `${dir}: no SRK certificates (srk1.crt, and srk2.crt..srk4.crt for a table of more keys)`);
  const stray = HAB_SRK_FILES.slice(certificates.length).find((name) => fs.existsSync(path.join(dir, name)));
  if (stray) throw new DaemonError('KEY_LOAD_FAILED', `${dir}: ${stray} without srk${certificates.length + 1}.crt (the SRK table has no gaps)`);
  const issuer = (cert: SigningCertificate): number => certificates.findIndex((srk) => cert.x509.checkIssued(srk) && cert.x509.verify(srk.publicKey));
  const csfIssuer = issuer(csf);
  if (csfIssuer === -1) throw new DaemonError('KEY_LOAD_FAILED', `${dir}: csf.crt is not issued by any of the SRK certificates`);
  if (issuer(img) !== csfIssuer)
    throw new DaemonError('KEY_LOAD_FAILED', `${dir}: img.crt is not issued by the SRK that issued csf.crt (srk${csfIssuer + 1}.crt)`);
  return { certificates, issuerIndex: csfIssuer };
}
