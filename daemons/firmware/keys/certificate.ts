// A key's certificate read once at start-up (PEM or DER, as sign-file accepts): its DER, and the
// issuer Name and serial INTEGER copied verbatim, which PKCS#7/CMS issuerAndSerialNumber must repeat.
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { DaemonError } from '../../../lib/errors.js';
import { readCheckedFile, TRUSTED_MODE_CHECK } from '../../../lib/keys/key-file.js';
import { CERTIFICATE_FILE_BYTES_MAX } from '../firmware-limits.js';

export interface SigningCertificate {
  readonly der: Buffer;
  readonly x509: X509Certificate;
  /** DER of the issuer Name, byte for byte as in the certificate. */
  readonly issuerDer: Buffer;
  /** DER of the serialNumber INTEGER, byte for byte as in the certificate. */
  readonly serialDer: Buffer;
}

/**
 * A trusted file, checked as a key's directory is (owner, not writable by group or others, nor the
 * directories above it): the certificate goes into every signature, and HAB's SRK table into fuses.
 */
export function readCertificateFile(file: string, what = 'certificate'): Buffer {
  return readCheckedFile(file, what, TRUSTED_MODE_CHECK, CERTIFICATE_FILE_BYTES_MAX).data;
}

export function loadCertificate(file: string): SigningCertificate {
  const raw = readCertificateFile(file);
  try {
    const x509 = new X509Certificate(raw);
    const der = x509.raw;
    const { issuerDer, serialDer } = issuerAndSerial(der);
    return { der, x509, issuerDer, serialDer };
  } catch (err) {
    throw new DaemonError('KEY_LOAD_FAILED', `certificate ${file}: not a readable PEM or DER X.509 certificate (${(err as Error).message})`, { cause: err });
  }
}

/** TBSCertificate ::= SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer, ... } */
function issuerAndSerial(der: Buffer): { issuerDer: Buffer; serialDer: Buffer } {
  const cert = forge.asn1.fromDer(der.toString('binary'), true);
  const tbs = (cert.value as forge.asn1.Asn1[])[0]!;
  const fields = tbs.value as forge.asn1.Asn1[];
  const first = fields[0]!;
  // An explicit [0] version tag: node-forge types a tag number as its universal Type enum.
  const at = first.tagClass === forge.asn1.Class.CONTEXT_SPECIFIC && (first.type as number) === 0 ? 1 : 0;
  const serial = fields[at]!;
  const issuer = fields[at + 2]!;
  if (serial.type !== forge.asn1.Type.INTEGER || issuer.type !== forge.asn1.Type.SEQUENCE) throw new Error('unexpected TBSCertificate layout');
  return {
    serialDer: Buffer.from(forge.asn1.toDer(serial).getBytes(), 'binary'),
    issuerDer: Buffer.from(forge.asn1.toDer(issuer).getBytes(), 'binary'),
  };
}
