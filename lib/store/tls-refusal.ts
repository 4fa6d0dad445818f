// Tells a TLS failure that will not heal by itself (the server's certificate does not verify against
// the CA we were given, or the server refused our client certificate) from an outage, so that a
// shared store's start fails with a clear line instead of answering STORE_UNAVAILABLE for ever.

/** Node's codes for a server certificate that does not verify (its chain, validity or name). */
const SERVER_CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** OpenSSL alerts a server sends when it refuses the client certificate (or its absence). */
const CLIENT_CERTIFICATE_ALERT =
  /^ERR_SSL_.*ALERT_(BAD_CERTIFICATE|CERTIFICATE_REQUIRED|UNKNOWN_CA|CERTIFICATE_UNKNOWN|CERTIFICATE_EXPIRED|CERTIFICATE_REVOKED|UNSUPPORTED_CERTIFICATE)$/;

/** A short, secret-free reason when `err` is a TLS failure of that kind; null for anything else. */
export function tlsRefusal(err: unknown): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return null;
  if (SERVER_CERTIFICATE_CODES.has(code)) return `the server's TLS certificate does not verify against the given CA or name (${code})`;
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER') return `the server does not speak TLS on this port (${code})`;
  if (CLIENT_CERTIFICATE_ALERT.test(code)) return `the server refused the TLS client certificate, or its absence (${code})`;
  return null;
}
