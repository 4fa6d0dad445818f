// Build clients of the firmware HTTP front end as the Yocto classes run them: kernel-module-signing's
// curl call (one build, or many at once), the module tarball it posts, and an upload that stalls.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MACHINE, run, type FirmwareHttp } from './http-fixtures.js';

/** signing_server.bbclass: `curl ${DIGSIG_POST_ARGS} --silent --fail -X POST "$@" "${DIGSIG_SERVER}/$endpoint"`. */
export const DIGSIG_POST_ARGS = ['--connect-timeout', '30', '--max-time', '1800', '--retry', '4'];

export interface Posted {
  code: number | null;
  status: number;
  /** The reply's header block (for Retry-After). */
  headers: string;
}

/** signing_server.bbclass's digsig_post up to its own arguments: the build's curl options, then `--silent --fail -X POST` and the form. */
export function digsigPostArgs(curlArgs: string[], form: string[]): string[] {
  return [...curlArgs, '--silent', '--fail', '-X', 'POST', ...form];
}

/** curl run without blocking (so that builds overlap) in `cwd`, killed after `timeoutMs`: its exit code and stdout. */
function curlAsync(args: string[], cwd: string, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    // A hung transfer must fail the test, not hold it until tap's own timeout.
    const curl = spawn('curl', args, { cwd, stdio: ['ignore', 'pipe', 'ignore'], timeout: timeoutMs });
    let out = '';
    curl.stdout.on('data', (d: Buffer) => (out += d.toString()));
    curl.on('close', (code) => resolve({ code, out }));
  });
}

const moduleForm = (tarball: string) => ['-F', `machine=${MACHINE}`, '-F', 'hashalg=sha512', '-F', `artifact=@${tarball}`];

/** kernel-module-signing.bbclass's call, run asynchronously so that builds can post at the same time. */
export async function signModules(http: FirmwareHttp, tarball: string, output: string, curlArgs: string[] = DIGSIG_POST_ARGS): Promise<Posted> {
  const args = [
    ...digsigPostArgs(curlArgs, moduleForm(tarball)),
    '--output',
    output,
    '-D',
    `${output}.headers`,
    '-w',
    '%{http_code}',
    `${http.url}/sign/modules`,
  ];
  const { code, out } = await curlAsync(args, http.base, 60_000);
  const headersFile = path.join(http.base, `${output}.headers`);
  const headers = fs.existsSync(headersFile) ? fs.readFileSync(headersFile, 'latin1') : '';
  return { code, status: Number(out.trim() || 0), headers };
}

/**
 * The same call for many builds at once from one curl process (`--parallel`): each transfer is the
 * class's request with the class's options on its own connection; one process instead of one per
 * build keeps process start-up (seconds for 100 on a loaded box) from spreading the builds out.
 * Resolves output name -> "<status> <curl exit code>".
 */
export async function signModulesAtOnce(http: FirmwareHttp, tarball: string, outputs: string[], curlArgs: string[]): Promise<Map<string, string>> {
  const args = ['--silent', '--parallel', '--parallel-immediate', '--parallel-max', String(outputs.length)];
  outputs.forEach((output, i) => {
    if (i > 0) args.push('--next');
    args.push(
      ...digsigPostArgs(curlArgs, moduleForm(tarball)),
      '--output',
      output,
      '-w',
      '%{filename_effective} %{http_code} %{exitcode}\\n',
      `${http.url}/sign/modules`,
    );
  });
  const { out } = await curlAsync(args, http.base, 90_000);
  const lines = out
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' '));
  return new Map(lines.map(([name, ...rest]) => [name!, rest.join(' ')]));
}

/** A module tree as the class tars it (`lib/modules/...`): `modules` files of `bytes` random bytes. Returns its name under http.base. */
export function moduleTarball(http: FirmwareHttp, name: string, modules: number, bytes: number): string {
  const tree = path.join(http.base, name);
  fs.mkdirSync(path.join(tree, 'lib/modules/6.1.0-test/kernel'), { recursive: true });
  for (let i = 0; i < modules; i++) fs.writeFileSync(path.join(tree, `lib/modules/6.1.0-test/kernel/m${i}.ko`), crypto.randomBytes(bytes));
  run('tar', ['-C', tree, '-c', '-z', '-f', path.join(http.base, `${name}.tar.gz`), 'lib/modules']);
  return `${name}.tar.gz`;
}

/** Sends the headers and the start of an upload, then nothing: the request keeps its place and its reserved bytes. */
export function stalledUpload(http: FirmwareHttp, contentLength: number): Promise<net.Socket> {
  return new Promise((resolve) => {
    const socket = net.connect(Number(new URL(http.url).port), '127.0.0.1');
    socket.on('error', () => {});
    socket.once('connect', () => {
      socket.write(
        `POST /sign/modules HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: ${contentLength}\r\n\r\n--XX\r\nContent-Disposition: form-data; name="machine"\r\n\r\n${MACHINE}\r\n`,
      );
      resolve(socket);
    });
  });
}
