// Opens the secret set the settings name: one exhaustive switch over the modes, so a new mode
// without a loader is a compile error.
import type { Logger } from 'pino';
import { loadDerivedSecrets } from './derived-secrets.js';
import { loadMode16Table, loadSingleSecret } from './memory-secrets.js';
import { openMode32Files } from './mode32-files.js';
import type { SecretSet, SecretSettings } from './secret-set.js';

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
