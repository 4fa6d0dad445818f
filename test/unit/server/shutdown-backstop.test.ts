// The stop backstop follows the drain deadline: a fixed 15 s once cut a --drain-ms-max above about
// 12 s short (exit 1 mid-drain); at the default drain it stays 15 s, under the unit's TimeoutStopSec.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { shutdownBackstopMs } from '../../../lib/server/shutdown.js';
import { DEFAULT_LIMITS } from '../../../lib/limits.js';
import { REPO_ROOT } from '../../helpers/repo-root.js';

t.equal(shutdownBackstopMs(DEFAULT_LIMITS.drainMsMax), 15_000, 'the default drain: 15 s, as before');
t.equal(shutdownBackstopMs(60_000), 65_000, 'a long drain is honoured, with the same 5 s after it');
t.equal(shutdownBackstopMs(0), 5_000, 'no drain: in-flight settle and backend close only');

const unit = fs.readFileSync(path.join(REPO_ROOT, 'systemd/signerd@.service'), 'utf8');
const stopSec = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)?.[1]);
t.ok(stopSec * 1000 > shutdownBackstopMs(DEFAULT_LIMITS.drainMsMax), `the shipped unit's TimeoutStopSec (${stopSec} s) outlasts the default stop`);
