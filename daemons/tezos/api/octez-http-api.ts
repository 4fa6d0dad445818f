// The octez remote-signer HTTP API (default port 6732), exactly as octez bakers and
// @taquito/remote-signer call it, over the shared core path. Errors are octez's JSON error trace.
import { DaemonError } from '../../../lib/errors.js';
import { decodeHex } from '../../../lib/protocol/encoding.js';
import { HTTP_STATUS } from '../../../lib/protocol/http-status.js';
import type { HttpReply, HttpRequest, HttpService } from '../../../lib/server/http-service.js';
import { parseSignatureVersion, shownPkh, type SignOptions, type TezosService } from '../signing/sign-service.js';

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

// Any path prefix in front of the octez paths is accepted (octez clients allow a base path).
const KEYS_PATH = /^(?:\/.*)?\/keys\/([^/]+)\/?$/;
const POP_PATH = /^(?:\/.*)?\/bls_prove_possession\/([^/]+)\/?$/;
const AUTHORIZED_PATH = /^(?:\/.*)?\/authorized_keys\/?$/;
const KNOWN_PATH = /^(?:\/.*)?\/known_keys\/?$/;

export function createTezosHttpService(core: TezosService): HttpService {
  return {
    async handle(req, ctx) {
      const keys = KEYS_PATH.exec(req.path);
      if (keys) {
        const pkh = keys[1]!;
        if (isGet(req)) return ok({ public_key: core.publicKey(pkh) });
        if (req.method === 'POST') return ok({ signature: await core.sign(pkh, signBody(req), signOptions(req), ctx.fields) });
        throw notAllowedMethod(req, ['GET', 'HEAD', 'POST']);
      }
      const pop = POP_PATH.exec(req.path);
      if (pop) {
        onlyGet(req);
        ctx.fields['pkh'] = shownPkh(pop[1]!);
        return ok({ bls_prove_possession: await core.provePossession(pop[1]!, req.query.get('bls_pk')) });
      }
      if (AUTHORIZED_PATH.test(req.path)) {
        onlyGet(req);
        const authorized = core.authorizedKeys();
        return ok(authorized === null ? {} : { authorized_keys: authorized });
      }
      if (KNOWN_PATH.test(req.path)) {
        onlyGet(req);
        return ok({ known_keys: core.knownKeys('http') });
      }
      throw new DaemonError('NOT_FOUND', 'no such path');
    },
    formatError(err) {
      // An octez error trace holding octez's generic `failure` error, exactly as octez-signer's own
      // failwith sends it. The octez client decodes an error only if kind, id and fields all match a
      // registered error (`failure` is registered `temporary`, with `msg` alone): any other kind or
      // one more field and it prints "Unregistered error: {…}". Our code goes in a header instead (the
      // shared server adds ERROR_CODE_HEADER to every error reply; octez clients and Taquito ignore it).
      const body = [{ kind: 'temporary', id: 'failure', msg: err.message }];
      return { status: HTTP_STATUS[err.code], headers: JSON_HEADERS, body: JSON.stringify(body) };
    },
  };
}

function ok(body: unknown): HttpReply {
  return { status: 200, headers: JSON_HEADERS, body: JSON.stringify(body) };
}

/** The body is a JSON string of hex, the full bytes including the magic byte. */
function signBody(req: HttpRequest): Buffer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(req.body.toString('utf8'));
  } catch {
    throw new DaemonError('BAD_REQUEST', 'body is not JSON; expected a JSON string of hex');
  }
  if (typeof parsed !== 'string') throw new DaemonError('BAD_REQUEST', 'body must be a JSON string of hex');
  // The byte limit proper is the core's (PAYLOAD_TOO_LARGE); the body limit already bounds this.
  return decodeHex(parsed, 'payload', Number.MAX_SAFE_INTEGER);
}

function signOptions(req: HttpRequest): SignOptions {
  const versionText = req.query.get('version');
  const authentication = req.query.get('authentication');
  if (versionText === null) return { authentication };
  const version = parseSignatureVersion(versionText);
  if (version === null) throw new DaemonError('BAD_REQUEST', 'version: expected 0, 1, 2 or 3');
  return { version, authentication };
}

/** HEAD is GET without the body (RFC 9110 §9.3.2): health checks and proxies use it; the server sends no body. */
function isGet(req: HttpRequest): boolean {
  return req.method === 'GET' || req.method === 'HEAD';
}

function onlyGet(req: HttpRequest): void {
  if (!isGet(req)) throw notAllowedMethod(req, ['GET', 'HEAD']);
}

function notAllowedMethod(req: HttpRequest, allow: readonly string[]): DaemonError {
  return new DaemonError('METHOD_NOT_ALLOWED', `${req.method.slice(0, 10)} is not allowed on this path`, { allow });
}
