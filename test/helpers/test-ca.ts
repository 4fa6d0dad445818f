// A throwaway certificate authority for tests of TLS to outside servers (PostgreSQL, etcd): made with
// the openssl command-line tool in one shell run, EC P-256 keys (fast), a server certificate for
// 127.0.0.1, client certificates with and without a Common Name, and an unrelated CA that signed none of them.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface TestCertificates {
  readonly dir: string;
  /** The CA that signed the server and client certificates. */
  readonly ca: string;
  /** A CA that signed neither: a client trusting only it must refuse the server. */
  readonly otherCa: string;
  /** CN and SAN 127.0.0.1; key mode 0600. */
  readonly serverCert: string;
  readonly serverKey: string;
  /** CN `clientName` (PostgreSQL's clientcert=verify-full maps it to the user); key mode 0600. */
  readonly clientCert: string;
  readonly clientKey: string;
  /** Subject O=`clientName`, no CN: etcd's JSON gateway refuses a client certificate with a CN. */
  readonly clientNoCnCert: string;
  readonly clientNoCnKey: string;
}

const SCRIPT = `
set -e
cd "$1"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
key ca.key; key other-ca.key; key server.key; key client.key; key client-no-cn.key
openssl req -x509 -new -key ca.key -subj /CN=signerd-test-ca -days 2 -out ca.pem
openssl req -x509 -new -key other-ca.key -subj /CN=signerd-other-ca -days 2 -out other-ca.pem
printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > server.ext
printf 'extendedKeyUsage=clientAuth\\n' > client.ext
openssl req -new -key server.key -subj /CN=127.0.0.1 | openssl x509 -req -CA ca.pem -CAkey ca.key -set_serial 2 -days 2 -extfile server.ext -out server.pem 2>/dev/null
openssl req -new -key client.key -subj "/CN=$2" | openssl x509 -req -CA ca.pem -CAkey ca.key -set_serial 3 -days 2 -extfile client.ext -out client.pem 2>/dev/null
openssl req -new -key client-no-cn.key -subj "/O=$2" | openssl x509 -req -CA ca.pem -CAkey ca.key -set_serial 4 -days 2 -extfile client.ext -out client-no-cn.pem 2>/dev/null
chmod 600 *.key
`;

/** Writes the certificates under `dir` (created); `clientName` is the client certificate's CN. */
export function makeTestCertificates(dir: string, clientName: string): TestCertificates {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  execFileSync('sh', ['-c', SCRIPT, 'sh', dir, clientName], { stdio: ['ignore', 'ignore', 'pipe'] });
  const file = (name: string): string => path.join(dir, name);
  return {
    dir,
    ca: file('ca.pem'),
    otherCa: file('other-ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
    clientNoCnCert: file('client-no-cn.pem'),
    clientNoCnKey: file('client-no-cn.key'),
  };
}
