// The error catalogue cannot drift from the operator docs: every code in lib/errors.ts has a row
// in docs/errors.md with its HTTP status, and the table names no code that does not exist.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../../helpers/repo-root.js';
import { ERROR_CODES } from '../../../lib/errors.js';
import { HTTP_STATUS } from '../../../lib/protocol/http-status.js';

const doc = fs.readFileSync(path.join(REPO_ROOT, 'docs/errors.md'), 'utf8');
const rows = new Map(
  [...doc.matchAll(/^\| `([A-Z_]+)` \| (\d+) \| (yes|no) \| (yes|no) \|/gm)].map((m) => [
    m[1]!,
    { status: Number(m[2]), retryable: m[3] === 'yes', fault: m[4] === 'yes' },
  ]),
);

t.test('every code is documented with its HTTP status, and whether it is retryable and a fault', async (t) => {
  for (const code of Object.keys(ERROR_CODES) as Array<keyof typeof ERROR_CODES>) {
    t.same(rows.get(code), { status: HTTP_STATUS[code], retryable: ERROR_CODES[code].retryable, fault: ERROR_CODES[code].fault }, `${code} row`);
  }
});

t.test('the doc lists no unknown code', async (t) => {
  for (const code of rows.keys()) t.ok(code in ERROR_CODES, `${code} exists`);
});
