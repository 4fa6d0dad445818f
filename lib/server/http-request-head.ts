// A request's head as services see it: its path decoded (a malformed escape is the client's 400),
// its query, and the short form of its path that request records carry.
import type http from 'node:http';
import { DaemonError } from '../errors.js';
import type { HttpRequestHead } from './http-service.js';

export function requestHead(req: http.IncomingMessage): HttpRequestHead {
  let url: URL;
  try {
    // An origin-form target is a path even when it starts with `//` (a base URL ending in `/`), which
    // URL resolution would read as a host: it is appended to the base, not resolved against it.
    const target = req.url ?? '/';
    url = target.startsWith('/') ? new URL(`http://localhost${target}`) : new URL(target, 'http://localhost');
  } catch {
    throw new DaemonError('BAD_REQUEST', 'malformed request target');
  }
  return { method: req.method ?? 'GET', path: decodePath(url.pathname), query: url.searchParams, headers: req.headers };
}

/** A malformed %-escape is the client's error (400), not ours. */
function decodePath(pathname: string): string {
  try {
    return decodeURIComponent(pathname);
  } catch {
    throw new DaemonError('BAD_REQUEST', 'malformed percent-escape in the path');
  }
}

export function logPath(url: string | undefined): string {
  const p = (url ?? '').split('?')[0] ?? '';
  return p.length > 120 ? p.slice(0, 120) + '…' : p;
}
