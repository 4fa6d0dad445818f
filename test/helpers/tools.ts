// Outside tools the tests drive (redis-server, nc, openssl, softhsm2-util, ...). Missing ones
// skip a test on a developer machine, but fail it in CI (CI=true): CI must run everything.
import { execFileSync } from 'node:child_process';

export function whichTool(tool: string): string | null {
  try {
    return execFileSync('sh', ['-c', `command -v "$1"`, 'sh', tool], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}

/**
 * Returns tap test options: `{}` when every tool is present, `{ skip: reason }` when one is missing
 * off CI. In CI a missing tool throws, so the suite fails rather than silently skipping.
 */
export function needTools(...tools: string[]): { skip?: string } {
  const missing = tools.filter((tool) => whichTool(tool) === null);
  if (missing.length === 0) return {};
  const reason = `missing tool(s): ${missing.join(', ')} (.ci/run installs them)`;
  if (process.env['CI'] === 'true') throw new Error(`CI: ${reason}`);
  return { skip: reason };
}
