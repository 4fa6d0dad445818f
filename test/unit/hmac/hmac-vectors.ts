// The hmac tests' view of the shared vector loader: cases from test/vectors/hmac/*.json, and
// source files (the Python reference) found from the checkout root.
import path from 'node:path';
import { REPO_ROOT } from '../../helpers/repo-root.js';
import { loadVectors } from '../../helpers/vectors.js';

export function hmacVectors<T>(name: string): T[] {
  return loadVectors<{ cases: T[] }>(path.join('hmac', name)).cases;
}

export function sourceFile(...parts: string[]): string {
  return path.join(REPO_ROOT, ...parts);
}

export const hex = (h: string): Buffer => Buffer.from(h, 'hex');
