// The tezos line protocol (default port 9732) for nc, shell scripts and local services: one
// request line, one reply line, over the same core path as the HTTP API. Grammar in docs/tezos.md.
import { DaemonError } from '../../../lib/errors.js';
import { decodeHex, logSafe } from '../../../lib/protocol/encoding.js';
import { trimAsciiWhitespace } from '../../../lib/protocol/line-reader.js';
import { formatErrorLine, type ReplyMode } from '../../../lib/protocol/reply-format.js';
import type { LineService, RequestContext } from '../../../lib/server/request-runner.js';
import { parseSignatureVersion, shownPkh, type SignOptions, type TezosService } from '../signing/sign-service.js';

type Reply = { text: string; json: unknown };

export function createTezosLineService(core: TezosService, mode: ReplyMode): LineService {
  return {
    async handle(line, ctx) {
      const words = trimAsciiWhitespace(line)
        .toString('latin1')
        .split(/[ \t]+/)
        .filter(Boolean);
      const verb = (words[0] ?? '').toLowerCase();
      ctx.fields['verb'] = logSafe(verb, 20);
      const reply = await dispatch(core, verb, words.slice(1), ctx);
      return mode === 'json' ? JSON.stringify(reply.json) : reply.text;
    },
    formatError: (err: DaemonError) => formatErrorLine(err, mode),
  };
}

async function dispatch(core: TezosService, verb: string, args: string[], ctx: RequestContext): Promise<Reply> {
  switch (verb) {
    case 'sign': {
      const [pkh, hex, ...rest] = args;
      if (pkh === undefined || hex === undefined) throw new DaemonError('BAD_REQUEST', 'usage: sign <pkh> <hex> [version=<0-3>] [authentication=<signature>]');
      const signature = await core.sign(pkh, decodeHex(hex, 'payload', Number.MAX_SAFE_INTEGER), signOptions(rest), ctx.fields);
      return { text: signature, json: { signature } };
    }
    case 'pubkey': {
      const pkh = exactlyOne(args, 'usage: pubkey <pkh>');
      ctx.fields['pkh'] = shownPkh(pkh);
      const publicKey = core.publicKey(pkh);
      return { text: publicKey, json: { public_key: publicKey } };
    }
    case 'keys': {
      none(args, 'keys');
      const keys = core.knownKeys('line');
      return { text: keys.join(' '), json: { known_keys: keys } };
    }
    case 'authorized_keys': {
      none(args, 'authorized_keys');
      const authorized = core.authorizedKeys();
      return { text: authorized === null ? 'none' : authorized.join(' '), json: authorized === null ? {} : { authorized_keys: authorized } };
    }
    case 'pop': {
      const [pkh, override, extra] = args;
      if (pkh === undefined || extra !== undefined) throw new DaemonError('BAD_REQUEST', 'usage: pop <pkh> [<BLpk override>]');
      ctx.fields['pkh'] = shownPkh(pkh);
      const proof = await core.provePossession(pkh, override ?? null);
      return { text: proof, json: { bls_prove_possession: proof } };
    }
    case 'ping':
      none(args, 'ping');
      return { text: 'pong', json: { pong: true } };
    default:
      throw new DaemonError('UNKNOWN_VERB', `unknown request "${logSafe(verb, 20)}"; expected sign, pubkey, keys, authorized_keys, pop or ping`);
  }
}

/** Options after the hex, as `name=value`; the names are the HTTP query parameters. */
function signOptions(words: string[]): SignOptions {
  const opts: SignOptions = { authentication: null };
  for (const word of words) {
    const eq = word.indexOf('=');
    const name = eq > 0 ? word.slice(0, eq) : word;
    const value = eq > 0 ? word.slice(eq + 1) : '';
    const version = name === 'version' ? parseSignatureVersion(value) : null;
    if (version !== null) opts.version = version;
    else if (name === 'authentication' && /^[1-9A-HJ-NP-Za-km-z]{20,200}$/.test(value)) opts.authentication = value;
    else throw new DaemonError('BAD_REQUEST', `sign option "${logSafe(word, 30)}": expected version=<0-3> or authentication=<b58 signature>`);
  }
  return opts;
}

function exactlyOne(args: string[], usage: string): string {
  if (args.length !== 1) throw new DaemonError('BAD_REQUEST', usage);
  return args[0]!;
}

function none(args: string[], verb: string): void {
  if (args.length > 0) throw new DaemonError('BAD_REQUEST', `${verb} takes no arguments`);
}
