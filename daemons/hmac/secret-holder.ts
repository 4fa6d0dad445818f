// The one live secret set, swapped atomically on SIGHUP: the new set is loaded completely
// before it replaces the old one, so a failed reload leaves the old set serving. Loading may be
// asynchronous (HSM-held secrets): openSecretHolder.
import type { SecretSet } from './secret-set.js';

/** What the listeners need: the live set. */
export interface LiveSecrets {
  /** The set to use for one request; take it once per request, not per chunk. */
  current(): SecretSet;
}

export interface SecretHolder extends LiveSecrets {
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

export interface AsyncSecretHolder extends LiveSecrets {
  /** Loads a fresh set and swaps it in; rejects (keeping the old set) if loading fails. Reloads run one at a time. */
  reload(): Promise<SecretSet>;
  /** Disposes the live set and waits for its token connections, if any, to close. */
  close(): Promise<void>;
}

export async function openSecretHolder(load: () => Promise<SecretSet>): Promise<AsyncSecretHolder> {
  let live = await load();
  let queue: Promise<unknown> = Promise.resolve();
  return {
    current: () => live,
    reload() {
      const next = queue.then(async () => {
        const set = await load();
        const old = live;
        live = set;
        old.dispose();
        return set;
      });
      queue = next.catch(() => undefined);
      return next;
    },
    async close() {
      await queue;
      if (live.close) await live.close();
      else live.dispose();
    },
  };
}
