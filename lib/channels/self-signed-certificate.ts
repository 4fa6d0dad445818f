// Self-signed Ed25519 X.509 certificates for client channels: a client's identity (pinned by its
// SHA-256 in the registry) and a server's (pinned by clients as their only trust anchor). node:crypto
// makes and signs; node-forge only writes the ASN.1 (RFC 5280, Ed25519 per RFC 8410).
import crypto, { type KeyObject } from 'node:crypto';
import forge from 'node-forge';

export interface CertificateRequest {
  /** Subject and issuer common name. */
  commonName: string;
  /** client: extKeyUsage clientAuth; server: serverAuth, with these DNS names and IP addresses. */
  role: { kind: 'client' } | { kind: 'server'; dnsNames: string[]; ipAddresses: string[] };
  days: number;
}

const OID = {
  ed25519: '1.3.101.112',
  commonName: '2.5.4.3',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

const asn1 = forge.asn1;
const { Class, Type } = asn1;

/** A new Ed25519 key pair and its self-signed certificate, both as PEM. */
export function selfSignedCertificate(request: CertificateRequest): { certificatePem: string; privateKeyPem: string; privateKey: KeyObject } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const tbs = tbsCertificate(request, spki);
  const tbsDer = derOf(tbs);
  const signature = crypto.sign(null, tbsDer, privateKey);
  const certificate = seq(tbs, algorithm(OID.ed25519), bitString(signature));
  const certificatePem = `-----BEGIN CERTIFICATE-----\n${chunk64(derOf(certificate).toString('base64'))}-----END CERTIFICATE-----\n`;
  // Checked once by OpenSSL: the certificate parses and its signature verifies with its own key.
  const x509 = new crypto.X509Certificate(certificatePem);
  if (!x509.verify(publicKey)) throw new Error('the new certificate does not verify');
  return { certificatePem, privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), privateKey };
}

function tbsCertificate(request: CertificateRequest, spki: Buffer): forge.asn1.Asn1 {
  const now = Date.now();
  // A positive 127-bit serial: random, so two certificates of one name never share one.
  const serial = crypto.randomBytes(16);
  serial[0]! &= 0x7f;
  const name = seq(
    asn1.create(Class.UNIVERSAL, Type.SET, true, [
      seq(oid(OID.commonName), asn1.create(Class.UNIVERSAL, Type.UTF8, false, forge.util.encodeUtf8(request.commonName))),
    ]),
  );
  const validity = seq(time(new Date(now - 60_000)), time(new Date(now + request.days * 86_400_000)));
  const server = request.role.kind === 'server';
  const extensions = [
    // A server's pinned self-signed certificate is its clients' trust anchor: marked as a CA (as
    // `openssl req -x509` does) so every TLS client takes it as one. A client's is an end entity.
    extension(OID.basicConstraints, true, server ? seq(asn1.create(Class.UNIVERSAL, Type.BOOLEAN, false, String.fromCharCode(0xff))) : seq()),
    // digitalSignature (bit 0); a server also keyCertSign (bit 5), as an anchor that signs itself.
    extension(OID.keyUsage, true, server ? bitString(Buffer.from([0x84]), 2) : bitString(Buffer.from([0x80]), 7)),
    extension(OID.extKeyUsage, false, seq(oid(server ? OID.serverAuth : OID.clientAuth))),
    extension(OID.subjectKeyIdentifier, false, asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, binary(crypto.createHash('sha1').update(spki).digest()))),
  ];
  if (request.role.kind === 'server') {
    const names = [
      ...request.role.dnsNames.map((dns) => asn1.create(Class.CONTEXT_SPECIFIC, 2, false, dns)),
      ...request.role.ipAddresses.map((ip) => asn1.create(Class.CONTEXT_SPECIFIC, 7, false, binary(ipBytes(ip)))),
    ];
    extensions.push(extension(OID.subjectAltName, false, seq(...names)));
  }
  return seq(
    asn1.create(Class.CONTEXT_SPECIFIC, 0, true, [asn1.create(Class.UNIVERSAL, Type.INTEGER, false, String.fromCharCode(2))]),
    asn1.create(Class.UNIVERSAL, Type.INTEGER, false, binary(serial)),
    algorithm(OID.ed25519),
    name,
    validity,
    name,
    asn1.fromDer(binary(spki)),
    asn1.create(Class.CONTEXT_SPECIFIC, 3, true, [seq(...extensions)]),
  );
}

function seq(...items: forge.asn1.Asn1[]): forge.asn1.Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.SEQUENCE, true, items);
}

function oid(dotted: string): forge.asn1.Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.OID, false, asn1.oidToDer(dotted).getBytes());
}

function algorithm(dotted: string): forge.asn1.Asn1 {
  // RFC 8410: the Ed25519 AlgorithmIdentifier has no parameters (not even NULL).
  return seq(oid(dotted));
}

function bitString(bytes: Buffer, unusedBits = 0): forge.asn1.Asn1 {
  return asn1.create(Class.UNIVERSAL, Type.BITSTRING, false, String.fromCharCode(unusedBits) + binary(bytes));
}

function extension(dotted: string, critical: boolean, value: forge.asn1.Asn1): forge.asn1.Asn1 {
  const parts = [oid(dotted)];
  if (critical) parts.push(asn1.create(Class.UNIVERSAL, Type.BOOLEAN, false, String.fromCharCode(0xff)));
  parts.push(asn1.create(Class.UNIVERSAL, Type.OCTETSTRING, false, asn1.toDer(value).getBytes()));
  return seq(...parts);
}

/** UTCTime through 2049, GeneralizedTime after, as RFC 5280 §4.1.2.5 requires. */
function time(date: Date): forge.asn1.Asn1 {
  return date.getUTCFullYear() < 2050
    ? asn1.create(Class.UNIVERSAL, Type.UTCTIME, false, asn1.dateToUtcTime(date))
    : asn1.create(Class.UNIVERSAL, Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(date));
}

function ipBytes(ip: string): Buffer {
  if (ip.includes(':')) {
    const [head = '', tail = ''] = ip.split('::');
    const parts = (s: string): string[] => (s === '' ? [] : s.split(':'));
    const groups = ip.includes('::') ? [...parts(head), ...Array<string>(8 - parts(head).length - parts(tail).length).fill('0'), ...parts(tail)] : parts(ip);
    return Buffer.concat(groups.map((g) => Buffer.from(g.padStart(4, '0'), 'hex')));
  }
  return Buffer.from(ip.split('.').map(Number));
}

function binary(bytes: Buffer): string {
  return bytes.toString('binary');
}

function derOf(node: forge.asn1.Asn1): Buffer {
  return Buffer.from(asn1.toDer(node).getBytes(), 'binary');
}

function chunk64(base64: string): string {
  return base64.replace(/.{1,64}/g, (line) => line + '\n');
}
