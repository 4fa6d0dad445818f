// The validity store seam: a signature verifies only while its record is here and live.
// Implementations: sqlite-validity-store (embedded default), redis-validity-store, postgres-validity-store, etcd-validity-store.

export interface SignatureRecord {
  /** Lowercase hex of the signature; the store's key. */
  signature: string;
  /** Exactly the bytes that were signed. */
  message: Buffer;
  keyId: string;
  algorithm: string;
  createdMs: number;
  /** Absolute expiry, or null for none. */
  expiresMs: number | null;
}

export type RecordStatus = 'valid' | 'revoked' | 'expired' | 'unknown';

/** What the daemons need: write on sign, read a live record on verify. */
export interface ValidityStore {
  /** Resolves once the store answers, or after msMax: daemons start serving either way (fail closed). */
  ready(msMax: number): Promise<boolean>;
  put(record: SignatureRecord): Promise<void>;
  /** The record if it is live now (present, not revoked, not expired); null otherwise. */
  getLive(signature: string): Promise<SignatureRecord | null>;
  /**
   * A sign daemon's readiness write, where writing and reading back an expiring probe record would
   * leave garbage (etcd keeps expired records; nothing purges them). Without it, the probe writes
   * such a record (Redis expires it, SQLite and PostgreSQL purge it).
   */
  probeWrite?(probeId: string): Promise<void>;
  close(): Promise<void>;
}

/** What the operator's admin commands need on top. */
export interface ValidityAdmin {
  inspect(signature: string): Promise<{ status: RecordStatus; record: SignatureRecord | null }>;
  /** Returns false when there was no live record to revoke. */
  revoke(signature: string): Promise<boolean>;
  /**
   * Returns false when there was no revoked record to bring back. `expiresMs` (epoch ms) replaces the
   * expiry; null keeps it. Absolute, so the caller's log entry names the very expiry stored.
   */
  reinstate(signature: string, expiresMs: number | null): Promise<boolean>;
  /**
   * Writes a record exported earlier (e.g. after a `redis-cli DEL`, or onto a new host) when the
   * store holds none for its signature, live, revoked or expired; false, and nothing written, when
   * it does. One atomic step: a restore never undoes a revocation or replaces a live record.
   */
  restore(record: SignatureRecord): Promise<boolean>;
  /** What an acknowledged revoke or reinstate has survived (which commit), for the operator's report. */
  describeDurability(): string;
}
