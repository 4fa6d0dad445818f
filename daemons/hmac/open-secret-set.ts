// Opens the secret set the settings name: one exhaustive switch over the modes, so a new mode
// without a loader is a compile error.
import type { Logger } from 'pino';
import { loadDerivedSecrets } from './derived-secrets.js';
import { loadMode16Table, loadSingleSecret } from './memory-secrets.js';
import { openMode32Files, type Mode32Files } from './mode32-files.js';
import type { SecretMode, SecretSet } from './secret-set.js';

export interface SecretSettings {
  mode: SecretMode;
  dir: string;
  mode32Files: Mode32Files;
  /** derived: the version new tags use (null: the highest master file present). */
  keyVersion: number | null;
  /** derived: retired versions still accepted by verify (null: every other master file present). */
  acceptVersions: readonly number[] | null;
  /** mode32: deadline for reading one key from disk; with hsmUri, deadline of one HSM call. */
  readMsMax: number;
  /** single/derived: a pkcs11: URI of the token-held secret (hsm-secret-set.ts) instead of files in `dir`. */
  hsmUri?: string | null;
}

export function openSecretSet(settings: SecretSettings): SecretSet {
  switch (settings.mode) {
    case 'single':
      return loadSingleSecret(settings.dir);
    case 'mode16':
      return loadMode16Table(settings.dir);
    case 'mode32':
      return openMode32Files(settings.dir, settings.mode32Files, settings.readMsMax);
    case 'derived':
      return loadDerivedSecrets(settings.dir, settings.keyVersion, settings.acceptVersions);
  }
}

/** The daemon's entry: secrets in files, or (loaded only then) in an HSM named by --secret. */
export async function loadSecretSet(settings: SecretSettings, log: Logger): Promise<SecretSet> {
  const hsmUri = settings.hsmUri;
  if (!hsmUri) return openSecretSet(settings);
  const { openHsmSecretSet } = await import('./hsm-secret-set.js');
  return openHsmSecretSet({ ...settings, hsmUri }, log);
}
