// The one live secret set, swapped atomically on SIGHUP: the new set is loaded completely
// before it replaces the old one, so a failed reload leaves the old set serving.
import type { SecretSet } from './secret-set.js';

export interface SecretHolder {
  /** The set to use for one request; take it once per request, not per chunk. */
  current(): SecretSet;
  /** Loads a fresh set and swaps it in; throws (keeping the old set) if loading fails. */
  reload(): SecretSet;
  dispose(): void;
}

export function createSecretHolder(load: () => SecretSet): SecretHolder {
  let live = load();
  return {
    current: () => live,
    reload() {
      const next = load();
      const old = live;
      live = next;
      old.dispose();
      return next;
    },
    dispose() {
      live.dispose();
    },
  };
}
