// A small etcd v3 client over the JSON gateway (POST /v3/kv/range, /v3/kv/put, /v3/kv/txn) on
// node:http(s): every request has one deadline, nothing is retried behind our back (a write is sent
// once; only a refused connection or an expired auth token, which etcd rejects before applying
// anything, is retried), TLS and user authentication are explicit. Reads are linearizable (etcd's
// default), writes are quorum commits.
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { DaemonError } from '../errors.js';
import { readSecretFile } from '../keys/key-file.js';
import { ETCD_RESPONSE_BYTES_MAX, ETCD_SOCKETS_MAX } from '../limits.js';
import { tlsRefusal } from './tls-refusal.js';

export interface EtcdConnectionOptions {
  /** host:port or http(s)://host:port of each member. */
  endpoints: string[];
  user?: string | undefined;
  passwordFile?: string | undefined;
  tlsCaFile?: string | undefined;
  tlsCertFile?: string | undefined;
  tlsKeyFile?: string | undefined;
  /** Deadline of one request, connection included. */
  requestTimeoutMs: number;
}

/** One key as etcd returns it. */
export interface EtcdKeyValue {
  key: Buffer;
  value: Buffer;
  modRevision: number;
}

interface EtcdCompare {
  key: Buffer;
  /** The key's mod_revision must equal this (0: the key must not exist). */
  modRevision: number;
}

export interface EtcdClient {
  /** One key, or every key from `key` up to `rangeEnd` (exclusive), at most `limit`. */
  range(key: Buffer, opts?: { rangeEnd?: Buffer; limit?: number }): Promise<{ kvs: EtcdKeyValue[]; more: boolean }>;
  put(key: Buffer, value: Buffer): Promise<void>;
  /** Deletes one key (nothing when it is not there). */
  delete(key: Buffer): Promise<void>;
  /**
   * If `compare` holds, puts `value` at `target` (default compare.key) and resolves { succeeded, revision }
   * where revision is the new mod_revision; otherwise reads compare.key in the same transaction and
   * resolves { current }.
   */
  compareAndPut(
    compare: EtcdCompare,
    value: Buffer,
    target?: Buffer,
  ): Promise<{ succeeded: true; revision: number } | { succeeded: false; current: EtcdKeyValue | null }>;
  close(): void;
}

interface RawKeyValue {
  key?: string;
  value?: string;
  mod_revision?: string;
}

interface RawRange {
  kvs?: RawKeyValue[];
  more?: boolean;
}

const b64 = (b: Buffer): string => b.toString('base64');

/** gRPC status codes etcd's gateway returns in its JSON errors (`code`). */
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_PERMISSION_DENIED = 7;
const GRPC_FAILED_PRECONDITION = 9;
const GRPC_UNAUTHENTICATED = 16;

/** A failed request as etcd answered it: the HTTP status and, from a JSON error, the gRPC code. */
type EtcdAnswerError = Error & { httpStatus?: number; grpcCode?: number };

function answerError(message: string, httpStatus: number | undefined, grpcCode: unknown): EtcdAnswerError {
  return Object.assign(new Error(message), { httpStatus, ...(typeof grpcCode === 'number' ? { grpcCode } : {}) });
}

/** An expired or revoked token (simple tokens expire after --auth-token-ttl idle, 5 min by default). */
const isInvalidToken = (err: unknown): boolean =>
  (err as EtcdAnswerError).grpcCode === GRPC_UNAUTHENTICATED || /invalid auth token/.test((err as Error).message);

function toKeyValue(raw: RawKeyValue): EtcdKeyValue {
  return { key: Buffer.from(raw.key ?? '', 'base64'), value: Buffer.from(raw.value ?? '', 'base64'), modRevision: Number(raw.mod_revision ?? 0) };
}

export function connectEtcd(opts: EtcdConnectionOptions): EtcdClient {
  if (opts.endpoints.length === 0) throw new DaemonError('CONFIG_INVALID', '--etcd-endpoints: at least one host:port');
  if (Boolean(opts.tlsCertFile) !== Boolean(opts.tlsKeyFile)) throw new DaemonError('CONFIG_INVALID', '--etcd-tls-cert and --etcd-tls-key go together');
  if (Boolean(opts.user) !== Boolean(opts.passwordFile)) throw new DaemonError('CONFIG_INVALID', '--etcd-user and --etcd-password-file go together');
  const tls = Boolean(opts.tlsCaFile || opts.tlsCertFile || opts.endpoints.some((e) => e.startsWith('https://')));
  const members = opts.endpoints.map((e) => parseEndpoint(e, tls));
  const password = opts.passwordFile ? readSecretFile(opts.passwordFile, 'etcd password file').toString('utf8').trim() : undefined;
  const agent = tls
    ? new https.Agent({
        keepAlive: true,
        maxSockets: ETCD_SOCKETS_MAX,
        ...(opts.tlsCaFile ? { ca: fs.readFileSync(opts.tlsCaFile) } : {}),
        ...(opts.tlsCertFile ? { cert: fs.readFileSync(opts.tlsCertFile) } : {}),
        ...(opts.tlsKeyFile ? { key: readSecretFile(opts.tlsKeyFile, 'etcd TLS key') } : {}),
        rejectUnauthorized: true,
      })
    : new http.Agent({ keepAlive: true, maxSockets: ETCD_SOCKETS_MAX });
  // The member the next request goes to; moves on after a failure, so a dead member costs one request.
  let current = 0;
  let token: string | null = null;
  // One authentication at a time: etcd checks a password with bcrypt, so a burst of requests that
  // all found no token must not each send one.
  let authenticating: Promise<void> | null = null;

  function postOnce(member: URL, path: string, body: unknown, deadline: number): Promise<unknown> {
    const payload = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = (tls ? https : http).request(
        {
          host: member.hostname.replace(/^\[|\]$/g, ''),
          port: member.port,
          path,
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': payload.length,
            ...(token !== null && path !== '/v3/auth/authenticate' ? { authorization: token } : {}),
          },
          timeout: Math.max(1, deadline - Date.now()),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > ETCD_RESPONSE_BYTES_MAX) req.destroy(new Error('response too large'));
            else chunks.push(chunk);
          });
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: { error?: string; message?: string; code?: unknown } & Record<string, unknown>;
            try {
              parsed = JSON.parse(text) as typeof parsed;
            } catch {
              // e.g. the gateway refusing a client certificate with a CN: its first line says why.
              const said = (text.split('\n')[0] ?? '').replace(/[^\x20-\x7e]/g, '?').slice(0, 120);
              reject(answerError(`etcd answered HTTP ${res.statusCode}${said ? `: ${said}` : ' without JSON'}`, res.statusCode, undefined));
              return;
            }
            if (res.statusCode !== 200 || parsed.error !== undefined) {
              reject(answerError(parsed.message ?? parsed.error ?? `HTTP ${res.statusCode}`, res.statusCode, parsed.code));
            } else resolve(parsed);
          });
          res.on('error', reject);
        },
      );
      const timer = setTimeout(() => req.destroy(new Error('request timeout')), Math.max(1, deadline - Date.now()));
      req.on('close', () => clearTimeout(timer));
      req.on('timeout', () => req.destroy(new Error('request timeout')));
      req.on('error', reject);
      req.end(payload);
    });
  }

  /**
   * A refused connection sent nothing, so the next member is tried; a token etcd no longer knows
   * was refused before anything was applied, so the request is sent once more with a fresh one. Any
   * other failure ends the request.
   */
  async function post(path: string, body: unknown): Promise<unknown> {
    const deadline = Date.now() + opts.requestTimeoutMs;
    let renewed = false;
    for (let tried = 0; ; tried++) {
      const member = members[current]!;
      let sent: string | null = null;
      try {
        if (password !== undefined && token === null) await authenticate(member, deadline);
        sent = token;
        return await postOnce(member, path, body, deadline);
      } catch (err) {
        if (password !== undefined && sent !== null && isInvalidToken(err)) {
          // Another request may have renewed it meanwhile; only the token that failed is dropped.
          if (token === sent) token = null;
          if (!renewed && Date.now() < deadline) {
            renewed = true;
            continue;
          }
          throw err;
        }
        const code = (err as NodeJS.ErrnoException).code;
        current = (current + 1) % members.length;
        if (code === 'ECONNREFUSED' && tried + 1 < members.length && Date.now() < deadline) continue;
        throw err;
      }
    }
  }

  function authenticate(member: URL, deadline: number): Promise<void> {
    authenticating ??= (async () => {
      const reply = (await postOnce(member, '/v3/auth/authenticate', { name: opts.user, password }, deadline)) as { token?: string };
      if (!reply.token) throw new Error('etcd authentication gave no token');
      token = reply.token;
    })().finally(() => {
      authenticating = null;
    });
    return authenticating;
  }

  return {
    async range(key, rangeOpts = {}) {
      const reply = (await post('/v3/kv/range', {
        key: b64(key),
        ...(rangeOpts.rangeEnd ? { range_end: b64(rangeOpts.rangeEnd) } : {}),
        ...(rangeOpts.limit ? { limit: String(rangeOpts.limit) } : {}),
      })) as RawRange;
      return { kvs: (reply.kvs ?? []).map(toKeyValue), more: reply.more === true };
    },
    async put(key, value) {
      await post('/v3/kv/put', { key: b64(key), value: b64(value) });
    },
    async delete(key) {
      await post('/v3/kv/deleterange', { key: b64(key) });
    },
    async compareAndPut(compare, value, target) {
      const key = b64(compare.key);
      const reply = (await post('/v3/kv/txn', {
        compare: [{ key, target: 'MOD', result: 'EQUAL', mod_revision: String(compare.modRevision) }],
        success: [{ request_put: { key: target ? b64(target) : key, value: b64(value) } }],
        failure: [{ request_range: { key } }],
      })) as { succeeded?: boolean; header?: { revision?: string }; responses?: Array<{ response_range?: RawRange }> };
      if (reply.succeeded === true) return { succeeded: true, revision: Number(reply.header?.revision ?? 0) };
      const kv = reply.responses?.[0]?.response_range?.kvs?.[0];
      return { succeeded: false, current: kv ? toKeyValue(kv) : null };
    },
    close() {
      agent.destroy();
    },
  };
}

function parseEndpoint(entry: string, tls: boolean): URL {
  // `http://user:password@host:port` would put a password in argv (and its user part was ignored); refused, never echoed.
  if (entry.includes('@'))
    throw new DaemonError('CONFIG_INVALID', 'an etcd endpoint is host:port only (no user or password); use --etcd-user and --etcd-password-file');
  const text = /^https?:\/\//.test(entry) ? entry : `${tls ? 'https' : 'http'}://${entry}`;
  try {
    const url = new URL(text);
    if (!url.port) throw new Error('no port');
    return url;
  } catch {
    throw new DaemonError('CONFIG_INVALID', `etcd endpoint "${entry}": expected host:port`);
  }
}

/**
 * A reason when etcd refused us for good: wrong user or password, no permission on the prefix,
 * authentication configured here but not enabled there, a gateway refusal without JSON (an HTTP
 * 4xx, e.g. a client certificate with a CN), or TLS that does not verify. Null for an outage.
 */
export function etcdRefusal(err: unknown): string | null {
  const tls = tlsRefusal(err);
  if (tls !== null) return tls;
  const e = err as EtcdAnswerError;
  const refused =
    e?.grpcCode === GRPC_INVALID_ARGUMENT ||
    e?.grpcCode === GRPC_PERMISSION_DENIED ||
    e?.grpcCode === GRPC_FAILED_PRECONDITION ||
    (e?.grpcCode === undefined && e?.httpStatus !== undefined && e.httpStatus >= 400 && e.httpStatus < 500);
  return refused ? (e.message.split('\n')[0] ?? '').slice(0, 160) : null;
}

/** Any etcd failure becomes STORE_UNAVAILABLE with a short, secret-free reason. */
export function etcdUnavailable(what: string, err: unknown): DaemonError {
  if (err instanceof DaemonError) return err;
  const reason = (err as Error)?.message?.split('\n')[0]?.slice(0, 120) ?? 'error';
  return new DaemonError('STORE_UNAVAILABLE', `etcd ${what} failed (${reason})`, { cause: err });
}

/** The first key after every key that starts with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}
