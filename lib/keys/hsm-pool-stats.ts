// What the HSM session pools hold right now, for the metrics (signerd_hsm_sessions*, reopens): each
// open token adds itself here, so metrics read the pools without loading PKCS#11 code themselves.

export interface HsmPoolStats {
  /** Sessions open: idle in the pool plus leased. */
  open: number;
  /** Sessions leased to a call now. */
  inUse: number;
  /** Times the token was reopened after a loss (session, token or device) since start. */
  reopens: number;
}

const pools = new Set<() => HsmPoolStats>();

/** Registers a pool's reader; the returned function removes it (the token closed). */
export function addHsmPool(read: () => HsmPoolStats): () => void {
  pools.add(read);
  return () => void pools.delete(read);
}

/** The sum over every open token of this process. */
export function hsmPoolTotals(): HsmPoolStats & { tokens: number } {
  const total = { open: 0, inUse: 0, reopens: 0, tokens: pools.size };
  for (const read of pools) {
    const s = read();
    total.open += s.open;
    total.inUse += s.inUse;
    total.reopens += s.reopens;
  }
  return total;
}
