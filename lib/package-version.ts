// signerd's version as an operator reports it: the package's, read from the package.json beside
// dist/ (metrics' build info, what a FIT signature names as its signer-version).
import fs from 'node:fs';

let cached: string | undefined;

/** The package version, or "unknown" when package.json cannot be read (a copied dist/ alone). */
export function packageVersion(): string {
  if (cached === undefined) {
    try {
      cached = (JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      cached = 'unknown';
    }
  }
  return cached;
}
