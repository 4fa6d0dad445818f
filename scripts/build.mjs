// `npm run build`: dist/ from the TypeScript sources. Types are checked by `npm run check` (tsc),
// not here: esbuild emits each file as tsc would (isolatedModules), in a second instead of four.
// The signerd executable then runs one bundle, not 200 files: every process starts faster.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';

const SOURCE_DIRS = ['bin', 'lib', 'daemons', 'test', 'bench'];

// From the file system, not git: a release tree without .git builds too.
const sources = SOURCE_DIRS.flatMap((dir) =>
  fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts'))
    .map((file) => path.join(dir, file)),
);

fs.rmSync('dist', { recursive: true, force: true });

// Every file, one for one, as tsc's emit: what the tests import in-process and what bench and
// `npm start` run.
await build({
  entryPoints: sources,
  outdir: 'dist',
  outbase: '.',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
});

// The executable's first file: CommonJS, so that it can size libuv's pool before any ES module loads.
await build({
  entryPoints: ['bin/signerd.cts'],
  outfile: 'dist/bin/signerd.cjs',
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  logLevel: 'warning',
});
fs.chmodSync('dist/bin/signerd.cjs', 0o755);

// What signerd.cjs loads: the command line and everything it reaches, one chunk per part that only
// some commands use. Each process of the suite (about 600 daemons and admin commands) spent about a
// fifth of its start-up resolving and reading separate files: 0.03 CPU-s each, measured 2026-12-07.
// The workers are entries of their own, beside the chunks that start them (new URL('./x.js',
// import.meta.url)); the bundle sits two folders deep, as lib/package-version.ts expects.
// Native addons stay in node_modules; pg-native is an optional peer of pg that signerd does not use.
await build({
  entryPoints: ['bin/cli.ts', 'lib/transparency/sequencer-worker.ts', 'lib/crypto/prehashed-check-worker.ts'],
  bundle: true,
  splitting: true,
  outdir: 'dist/bundle',
  entryNames: '[name]',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: true,
  external: ['better-sqlite3', 'pkcs11js', 'pg-native'],
  // Bundled CommonJS packages (pino, commander, ioredis, pg) call require() for Node's own modules.
  banner: { js: "import { createRequire as signerdCreateRequire } from 'node:module'; const require = signerdCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
