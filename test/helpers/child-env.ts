// Loaded into every test process (.taprc node-arg): tap's process-info hook rewrites the
// environment of every process a test spawns so that it loads the hook too, which doubles each
// daemon's start-up (0.18 s → 0.40 s) and runs an --import before signerd's own start. Coverage is
// off, so the children are started as an operator starts them: the spawn listener goes (it lives in
// process-on-spawn's global singleton), and so does the hook in NODE_OPTIONS.
const spawnHooks = (globalThis as Record<symbol, { listeners?: unknown[] } | undefined>)[Symbol.for('process-on-spawn@*:singletonId')];
if (spawnHooks?.listeners) spawnHooks.listeners.length = 0;

const kept = (process.env['NODE_OPTIONS'] ?? '')
  .split(/\s+/)
  .filter((option) => option.length > 0 && !option.includes('@tapjs'))
  .join(' ');
if (kept.length > 0) process.env['NODE_OPTIONS'] = kept;
else delete process.env['NODE_OPTIONS'];
