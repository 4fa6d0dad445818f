// Loads known-answer vector files from test/vectors/ (JSON, each naming its source).
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './repo-root.js';

const root = path.join(REPO_ROOT, 'test/vectors');

export function loadVectors<T>(relative: string): T & { source: string } {
  return JSON.parse(fs.readFileSync(path.join(root, relative), 'utf8')) as T & { source: string };
}
